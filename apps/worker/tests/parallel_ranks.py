"""Runs one wan-tiny generation on a group of ranks in fresh processes and returns rank 0's frames.

Used by test_parallel.py and the benchmark: the group is built exactly as a worker group builds
it (process group over gloo on the loopback, mesh, ``GroupRuntime`` on a loaded engine), without
the stdio protocol around it.
"""

from __future__ import annotations

import os
import queue
import statistics
import time
from datetime import timedelta
from typing import Any

import numpy as np

CPU_THREADS = 1


def _rank_main(
    rank: int, spec_text: str, port: int, params: Any, results: Any, repeats: int, env: dict[str, str]
) -> None:
    try:
        _rank_job(rank, spec_text, port, params, results, repeats, env)
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        results.put(("error", rank, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
        raise


def _rank_job(
    rank: int, spec_text: str, port: int, params: Any, results: Any, repeats: int, env: dict[str, str]
) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(CPU_THREADS)
    from t2v_worker.config import load_config
    from t2v_worker.engines import create_engine
    from t2v_worker.parallel import runtime
    from t2v_worker.parallel.runtime import GroupRuntime, Mesh, init_process_group

    if env.pop("LOCAL_CACHE_DECISION", None):
        # Each rank decides from its own shard, as diffusers' hook does: what the group's
        # collective decision replaces (test_parallel.py reproduces the hang with it).
        from diffusers.hooks.first_block_cache import FBCHeadBlockHook

        runtime.group_cache_decision = lambda _group: FBCHeadBlockHook._should_compute_remaining_blocks
    config = load_config({"T2V_ENGINE": "wan-tiny", "T2V_PARALLEL": spec_text, **env})
    world = config.parallel.size
    store = None
    if rank == 0:
        store = dist.TCPStore("127.0.0.1", port, world, is_master=True, timeout=timedelta(seconds=60))
    init_process_group(rank, world, port, "cpu", 60.0, store)
    mesh = Mesh(config.parallel, rank, "cpu")
    engine = create_engine(config)
    engine.load()
    GroupRuntime(
        engine,
        config.parallel,
        mesh,
        "cpu",
        config.parallel_timeout_s if "T2V_PARALLEL_TIMEOUT_S" in env else None,
    )
    times = []
    for _ in range(repeats):
        dist.barrier()
        started = time.perf_counter()
        frames = np.asarray(engine.generate(params, lambda _s, _t: None))
        times.append(time.perf_counter() - started)
    report = engine.run_report(params)
    elapsed = statistics.median(times[1:] if len(times) > 1 else times)
    if rank == 0:
        results.put(("done", frames, elapsed, report))
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_frames(
    spec_text: str, params: Any, timeout_s: float = 240.0, repeats: int = 1, env: dict[str, str] | None = None
) -> tuple[Any, float, dict[str, Any]]:
    """(frames of rank 0, seconds of its generate call, its run report). With ``repeats`` > 1 the
    job runs that many times and the seconds are the median without the first (warm) run.
    ``env``: more worker settings (``T2V_CACHE``, ``T2V_COMPILE``, ``T2V_PARALLEL_TIMEOUT_S``).
    Raises RuntimeError naming the rank when one fails, TimeoutError when none answers."""
    import torch.multiprocessing as mp

    from t2v_worker.config import load_config

    world = load_config({"T2V_PARALLEL": spec_text}).parallel.size
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    os.environ.setdefault("OMP_NUM_THREADS", str(CPU_THREADS))
    procs = [
        ctx.Process(target=_rank_main, args=(r, spec_text, port, params, results, repeats, dict(env or {})))
        for r in range(world)
    ]
    for p in procs:
        p.start()
    try:
        try:
            outcome = results.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no rank of {spec_text} answered within {timeout_s:.0f}s") from None
        if outcome[0] == "error":
            raise RuntimeError(f"rank {outcome[1]} failed: {outcome[2]}")
        _, frames, elapsed, report = outcome
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return frames, elapsed, report


def single_frames(
    params: Any, repeats: int = 1, env: dict[str, str] | None = None
) -> tuple[Any, float, dict[str, Any]]:
    """The same generation on one rank, in this process (same thread count as each rank)."""
    import torch

    from t2v_worker.config import load_config
    from t2v_worker.engines import create_engine

    previous = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        engine = create_engine(load_config({"T2V_ENGINE": "wan-tiny", **(env or {})}))
        engine.load()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            frames = np.asarray(engine.generate(params, lambda _s, _t: None))
            times.append(time.perf_counter() - started)
        elapsed = statistics.median(times[1:] if len(times) > 1 else times)
        return frames, elapsed, engine.run_report(params)
    finally:
        torch.set_num_threads(previous)
