"""Rank 0's side of a worker group: starts ranks 1..N-1, hands them each job, and treats the death
or hang of any rank as the death of the group.

The API sees one worker (this process, rank 0) per group and supervises it as it supervises any
worker. Rank 0 never tries to heal a group: when a rank exits, or a collective fails or times
out (``T2V_PARALLEL_TIMEOUT_S``), it kills the other ranks and exits with status 1, without an
event for the job. The supervisor then sees a crashed worker: it restarts the whole group and the
job runner requeues the job (it runs at most ``MAX_ATTEMPTS`` times in all). Ranks 1..N-1 die
with rank 0 (``PR_SET_PDEATHSIG``) and exit at the end of their input.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import IO, Any

from ..config import WorkerConfig
from ..engines.base import Engine, StepCallback
from ..errors import Cancelled, InvalidParams, ModelLoadFailed
from ..params import GenerateParams
from .runtime import SETUP_TIMEOUT_S, GroupRuntime, Mesh, init_process_group

log = logging.getLogger(__name__)

EXIT_GROUP_BROKEN = 1
"""A rank died or hangs: an ordinary crash for the supervisor (restart with backoff, requeue)."""

LOADED = b"loaded\n"


def group_visible(device: str, visible: str | None, size: int) -> str | None:
    """The devices of a group: ``CUDA_VISIBLE_DEVICES``, or, when it is unset (a worker started by
    hand, a container that sees only its own GPUs), the first ``size`` devices. None off CUDA."""
    if device != "cuda":
        return None
    return visible if visible is not None else ",".join(str(i) for i in range(size))


def rank_devices(visible: str | None, rank: int) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for one rank: the group's devices, the rank's own first, so that
    every rank's engine uses ``cuda:0`` and NCCL still sees all peers."""
    if visible is None:
        return None
    devices = [d.strip() for d in visible.split(",") if d.strip()]
    if not devices:
        return visible
    return ",".join([devices[rank]] + devices[:rank] + devices[rank + 1 :])


class _Rank:
    def __init__(self, rank: int, proc: subprocess.Popen[bytes]) -> None:
        self.rank = rank
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: IO[bytes] = proc.stdin
        self.status: IO[bytes] = proc.stdout


class WorkerGroup:
    """Rank 0's view of the group. ``start`` before loading the engine, ``attach`` after."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.spec = config.parallel
        self.ranks: list[_Rank] = []
        self.mesh: Mesh | None = None
        self.runtime: GroupRuntime | None = None
        self._closing = False
        self._lock = threading.Lock()

    # ---- start -------------------------------------------------------------------------------

    def start(self) -> None:
        import torch.distributed as dist

        timeout = timedelta(seconds=max(self.config.parallel_timeout_s, SETUP_TIMEOUT_S))
        # Port 0: the store takes a free port on the loopback; the other ranks are told which.
        store = dist.TCPStore(
            "127.0.0.1", 0, self.spec.size, is_master=True, timeout=timeout, wait_for_workers=False
        )
        visible = group_visible(self.config.device, os.environ.get("CUDA_VISIBLE_DEVICES"), self.spec.size)
        for rank in range(1, self.spec.size):
            env = dict(os.environ)
            env.update(
                T2V_PARALLEL_RANK=str(rank),
                T2V_PARALLEL_WORLD=str(self.spec.size),
                T2V_PARALLEL_PORT=str(store.port),
                T2V_PARALLEL_PARENT=str(os.getpid()),
            )
            devices = rank_devices(visible, rank)
            if devices is not None:
                env["CUDA_VISIBLE_DEVICES"] = devices
            proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "t2v_worker.parallel.rank"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,  # the worker's own stderr: the group logs in one place
                env=env,
            )
            log.info("rank %d of %d started (pid %d)", rank, self.spec.size, proc.pid)
            self.ranks.append(_Rank(rank, proc))
        threading.Thread(target=self._watch, name="group-watchdog", daemon=True).start()
        init_process_group(
            0, self.spec.size, store.port, self.config.device, self.config.parallel_timeout_s, store
        )
        self.mesh = Mesh(self.spec, 0, self.config.device)
        log.info("worker group %s: %d ranks joined", self.spec, self.spec.size)

    def _watch(self) -> None:
        while True:
            time.sleep(0.2)
            for r in self.ranks:
                code = r.proc.poll()
                if code is not None:
                    with self._lock:
                        if self._closing:
                            return
                    self.fatal(f"rank {r.rank} exited with status {code}")

    # ---- attach ------------------------------------------------------------------------------

    def attach(self, engine: Engine) -> None:
        """After rank 0 loaded: waits until every rank has loaded, then makes the engine's jobs
        run on the group. A rank that fails to load exits, which the watchdog reports."""
        for r in self.ranks:
            line = r.status.readline()
            if line != LOADED:
                raise ModelLoadFailed(f"rank {r.rank} did not load (it said {line!r})")
        assert self.mesh is not None
        runtime = GroupRuntime(
            engine, self.spec, self.mesh, self.config.device, self.config.parallel_timeout_s
        )
        runtime.dispatch = self._dispatch
        self.runtime = runtime
        group_generate = engine.generate

        def generate(params: GenerateParams, on_step: StepCallback) -> Any:
            try:
                return group_generate(params, on_step)
            except (Cancelled, InvalidParams):
                raise
            except BaseException as exc:  # noqa: BLE001 - the other ranks are mid-job: no way back
                self.fatal(f"job failed on rank 0 with the group mid-job: {type(exc).__name__}: {exc}")
                raise

        engine.generate = generate  # type: ignore[method-assign]
        log.info("worker group %s ready", self.spec)

    def _dispatch(self, params: GenerateParams) -> None:
        data = pickle.dumps(params)
        for r in self.ranks:
            try:
                r.stdin.write(data)
                r.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self.fatal(f"rank {r.rank} is gone ({exc})")

    # ---- end ---------------------------------------------------------------------------------

    def fatal(self, reason: str) -> None:
        """Kills every rank and exits: the supervisor restarts the group and requeues the job."""
        log.error("worker group broken: %s; exiting so that the group restarts", reason)
        for r in self.ranks:
            if r.proc.poll() is None:
                try:
                    r.proc.send_signal(signal.SIGKILL)
                except OSError:
                    pass
        sys.stderr.flush()
        os._exit(EXIT_GROUP_BROKEN)

    def close(self, timeout_s: float = 10.0) -> None:
        """Normal exit: the ranks see the end of their input and leave."""
        with self._lock:
            self._closing = True
        for r in self.ranks:
            try:
                r.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        for r in self.ranks:
            try:
                r.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait()


def start_group(config: WorkerConfig) -> WorkerGroup:
    group = WorkerGroup(config)
    group.start()
    return group
