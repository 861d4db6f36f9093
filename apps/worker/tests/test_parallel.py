"""One job across a worker group (``T2V_PARALLEL``), on CPU: gloo ranks on the loopback, wan-tiny.

- the frames of 2 (and 4) ranks equal one rank's for the same seed, for ``cfg``, ``ulysses:2``
  and ``cfg+ulysses:2``;
- a real worker group behind the stdio protocol: same video as one rank; a cancel stops every
  rank at the same step and the group serves the next job; a rank killed mid-job, or one that hangs
  (stopped), takes the group down with a non-zero exit and no event for the job, and a restarted
  group serves the job;
- configuration errors name ``T2V_PARALLEL`` and what is accepted.

Tolerance of the frame comparison: frames are float32 in [0, 1] and the video stores 8 bits, one
level = 1/255 ≈ 3.9e-3. A split changes at most the order of float32 reductions (matmuls over
half the tokens, attention per head shard), whose effect is around 1e-6; 1e-4 is 40× below one
video level, so a larger difference would be a real error (a wrong shard, a swapped CFG half),
which shows up as differences of order 0.1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parallel_ranks import group_frames, single_frames
from t2v_worker.config import ConfigError, load_config
from t2v_worker.errors import InvalidParams
from t2v_worker.parallel.group import group_visible, rank_devices
from t2v_worker.parallel.runtime import check_tokens, video_tokens
from t2v_worker.parallel.spec import ParallelSpec, parse_parallel
from worker_support import WorkerProcess, generate_request, image_input
from worker_support import job_params as params

TOLERANCE = 1e-4


# ---- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cfg", "ulysses", "size"),
    [
        ("", False, 1, 1),
        ("off", False, 1, 1),
        ("cfg", True, 1, 2),
        ("ulysses:2", False, 2, 2),
        ("ulysses:4", False, 4, 4),
        ("cfg+ulysses:2", True, 2, 4),
        ("ulysses:3+cfg", True, 3, 6),
    ],
)
def test_parallel_forms(raw: str, cfg: bool, ulysses: int, size: int) -> None:
    spec = parse_parallel(raw)
    assert (spec.cfg, spec.ulysses, spec.size) == (cfg, ulysses, size)
    assert load_config({"T2V_PARALLEL": raw}).parallel == spec


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"T2V_PARALLEL": "tensor:2"}, r"T2V_PARALLEL='tensor:2' is not understood \(accepted: off, cfg"),
        ({"T2V_PARALLEL": "ulysses"}, r"T2V_PARALLEL='ulysses' is not understood"),
        ({"T2V_PARALLEL": "ulysses:1"}, r"the Ulysses degree must be 2\.\.8"),
        ({"T2V_PARALLEL": "ulysses:16"}, r"the Ulysses degree must be 2\.\.8"),
        ({"T2V_PARALLEL": "ulysses:two"}, r"ulysses:<N> needs a whole number"),
        ({"T2V_PARALLEL": "cfg+cfg"}, r"T2V_PARALLEL='cfg\+cfg' is not understood"),
        (
            {"T2V_PARALLEL": "cfg+ulysses:2", "T2V_WORKER_DEVICE": "cuda", "CUDA_VISIBLE_DEVICES": "0,1"},
            r"runs one job on 4 GPUs, but CUDA_VISIBLE_DEVICES='0,1' lists 2",
        ),
        (
            {"T2V_PARALLEL": "cfg", "T2V_PARALLEL_TIMEOUT_S": "0"},
            r"T2V_PARALLEL_TIMEOUT_S='0' must be greater than 0",
        ),
    ],
)
def test_bad_parallel_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env)


def test_a_group_of_gpus_is_exactly_its_devices() -> None:
    env = {"T2V_PARALLEL": "cfg", "T2V_WORKER_DEVICE": "cuda", "CUDA_VISIBLE_DEVICES": "2,3"}
    assert load_config(env).parallel.size == 2
    # Each rank sees the group's devices, its own first.
    assert [rank_devices("2,3", r) for r in (0, 1)] == ["2,3", "3,2"]
    assert rank_devices("4,5,6,7", 2) == "6,4,5,7"
    # Unset (a worker started by hand): the first devices, each rank on a GPU of its own.
    assert [rank_devices(group_visible("cuda", None, 2), r) for r in (0, 1)] == ["0,1", "1,0"]
    assert group_visible("cuda", "2,3", 2) == "2,3" and group_visible("cpu", None, 2) is None


def test_ulysses_on_cpu_needs_a_token_count_it_divides() -> None:
    spec = ParallelSpec(ulysses=2)
    assert video_tokens(params(width=64, height=64, num_frames=5)) == 2 * 2 * 2
    assert video_tokens(params(width=1280, height=704, num_frames=121)) == 31 * 40 * 22
    check_tokens(spec, "cpu", params(width=64, height=64, num_frames=5))
    odd = params(width=96, height=96, num_frames=1)  # 1 × 3 × 3 tokens
    with pytest.raises(Exception, match=r"96x96, 1 frames is 9 video tokens.*multiple of 2"):
        check_tokens(spec, "cpu", odd)
    check_tokens(spec, "cuda", odd)  # "Ulysses anything" on NCCL


# ---- frames: a group against one rank -----------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> Any:
    return single_frames(params())


@pytest.mark.parametrize("spec", ["cfg", "ulysses:2", "cfg+ulysses:2"])
def test_a_group_makes_the_frames_of_one_rank(spec: str, reference: Any) -> None:
    one, _, one_report = reference
    many, _, report = group_frames(spec, params())
    assert many.shape == one.shape == (5, 64, 64, 3)
    difference = float(np.abs(many - one).max())
    print(f"{spec}: max abs frame difference vs one rank = {difference:.3g}")
    assert difference <= TOLERANCE
    # The frames are not trivially equal: another seed gives another video.
    assert float(np.abs(many - single_frames(params(seed=12))[0]).max()) > 0.05
    # Rank 0 reports the passes of both CFG halves: 3 steps × 2.
    assert report["passes"] == one_report["passes"] == 6


def test_an_image_job_on_a_cfg_group_makes_the_frames_of_one_rank(tmp_path: Path) -> None:
    # Image-to-video runs another pipeline over the same transformer: the CFG split holds there too.
    job = params(image=image_input(tmp_path / "first.png", 64, 64, 3))
    one, _, _ = single_frames(job)
    many, _, report = group_frames("cfg", job)
    assert float(np.abs(many - one).max()) <= TOLERANCE
    assert float(np.abs(many - single_frames(params())[0]).max()) > 0.01  # the image mattered
    assert report["passes"] == 6


def test_cfg_group_without_guidance_runs_one_pass_per_step() -> None:
    # guidance 1: no unconditional pass; the conditional half computes every pass alone.
    one, _, _ = single_frames(params(guidance_scale=1.0))
    many, _, report = group_frames("cfg", params(guidance_scale=1.0))
    assert float(np.abs(many - one).max()) <= TOLERANCE
    assert report["passes"] == 3


# ---- Ulysses with the step cache and compiled blocks ---------------------------------------------

# At this job and threshold the First Block Cache skips 10 of wan-tiny's 16 passes, and at some
# steps the relative change of the first block's residual is above the threshold on one token
# shard and below it on the other (0.1024 and 0.0931 where the whole sequence has 0.0978).
CACHED_JOB = params(num_inference_steps=8, width=128, height=128, num_frames=9)
CACHE_ENV = {"T2V_CACHE": "first-block:0.1"}


def test_ulysses_with_the_step_cache_decides_once_for_the_group() -> None:
    """First the failure: ranks that decide from their own shard disagree, the ones that compute
    wait in an all-to-all for the ones that skipped, and the group hangs until its timeout (5 s
    here). Then the worker's collective decision, with compiled blocks: the group computes the
    passes one rank computes (the same decision) and makes its frames; the plain Ulysses exchange
    holds inside a ``fullgraph`` compiled block."""
    env = {**CACHE_ENV, "T2V_PARALLEL_TIMEOUT_S": "5"}
    with pytest.raises(RuntimeError, match=r"rank \d failed: .*Timed out"):
        group_frames("ulysses:2", CACHED_JOB, env={**env, "LOCAL_CACHE_DECISION": "1"}, timeout_s=120)
    one, _, one_report = single_frames(CACHED_JOB, env=CACHE_ENV)
    assert 0 < one_report["passes"] < one_report["planned_passes"], one_report
    # Two jobs: the second takes the first's cache hooks off beneath the split hook and installs
    # fresh ones (the frames and report are the second job's).
    many, _, report = group_frames(
        "ulysses:2", CACHED_JOB, env={**env, "T2V_COMPILE": "blocks"}, timeout_s=360, repeats=2
    )
    assert (report["compile"], report["cache"]) == ("blocks", "first-block:0.1")
    assert report["passes"] == one_report["passes"]
    assert float(np.abs(many - one).max()) <= TOLERANCE


@pytest.mark.parametrize(
    ("device", "compiled", "refused"),
    [
        ("cpu", False, "on CPU (gloo exchanges equal shards only)"),
        ("cuda", True, "with T2V_COMPILE=blocks"),
        ("cuda", False, None),
    ],
)
def test_uneven_token_counts_run_only_where_they_can(
    device: str, compiled: bool, refused: str | None
) -> None:
    """Plain Ulysses everywhere the token count splits evenly (720p: 27 280 over 2, 4, 8 ranks);
    otherwise diffusers' "Ulysses anything" on eager CUDA only, a refusal elsewhere."""
    from t2v_worker.parallel.runtime import ulysses_refusal

    four = ParallelSpec(ulysses=4)
    assert ulysses_refusal(four, device, compiled, 27280) is None
    reason = ulysses_refusal(four, device, compiled, 12090)  # 832×480×121
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason and "multiple of 4" in reason
        with pytest.raises(InvalidParams, match="832x480, 121 frames is 12090 video tokens"):
            check_tokens(four, device, params(width=832, height=480, num_frames=121), compiled)


# ---- a worker group behind the protocol ---------------------------------------------------------

GROUP_ENV = {
    "T2V_ENGINE": "wan-tiny",
    "T2V_WORKER_DEVICE": "cpu",
    "T2V_HEARTBEAT_INTERVAL_S": "1",
}


def start(env: dict[str, str]) -> WorkerProcess:
    worker = WorkerProcess({**GROUP_ENV, **env})
    ready = worker.next_event(timeout=180)
    assert ready["type"] == "ready", (ready, "".join(worker.stderr_lines[-30:]))
    return worker


def other_ranks(worker: WorkerProcess) -> list[int]:
    pid = worker.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
        children = [int(p) for p in fh.read().split()]
    ranks = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            if b"t2v_worker.parallel.rank" in fh.read():
                ranks.append(child)
    return ranks


def decoded(path: str) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).astype(np.int16)


@pytest.fixture(scope="module")
def cfg_group() -> Any:
    worker = start({"T2V_PARALLEL": "cfg"})
    yield worker
    assert worker.close() == 0
    assert "rank 1: end of input; exiting" in "".join(worker.stderr_lines)


def test_group_video_equals_one_worker_video(
    cfg_group: WorkerProcess, tiny_worker: WorkerProcess, tmp_path: Path
) -> None:
    request = generate_request("g-1", tmp_path, width=64, height=64, num_frames=5, num_inference_steps=3)
    cfg_group.send(request)
    progress, done = cfg_group.until_terminal("g-1")
    assert done["type"] == "done", done
    assert [p["step"] for p in progress] == [0, 1, 2, 3]
    alone = generate_request("g-1-alone", tmp_path, width=64, height=64, num_frames=5, num_inference_steps=3)
    tiny_worker.send(alone)
    _, done_alone = tiny_worker.until_terminal("g-1-alone")
    assert done_alone["type"] == "done", done_alone
    # Only rank 0 writes: one MP4, and it decodes to the one-rank video (at most one 8-bit level off).
    a, b = decoded(done["path"]), decoded(done_alone["path"])
    assert a.shape == b.shape and int(np.abs(a - b).max()) <= 1
    assert done["acceleration"]["passes"] == 6


def test_cancel_stops_every_rank_at_the_same_step(cfg_group: WorkerProcess, tmp_path: Path) -> None:
    request = generate_request(
        "g-cancel", tmp_path, width=64, height=64, num_frames=5, num_inference_steps=40
    )
    cfg_group.send(request)
    while True:
        event = cfg_group.next_event()
        if event["type"] == "progress" and event["step"] >= 2:
            asked_at = event["step"]
            cfg_group.send({"type": "cancel", "job_id": "g-cancel"})
            break
    while True:
        event = cfg_group.next_event()
        if event["type"] != "progress":
            break
    assert event["type"] == "error" and event["code"] == "CANCELLED", event
    step = int(event["message"].split("step ")[1].split(" ")[0])
    assert asked_at <= step <= asked_at + 1
    deadline = time.monotonic() + 10
    mark = f"rank 1: the group cancels the job at step {step} of 40"
    while mark not in "".join(cfg_group.stderr_lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mark in "".join(cfg_group.stderr_lines)
    # Both ranks are free again: the next job runs on the group.
    follow = generate_request("g-after", tmp_path, width=64, height=64, num_frames=5, num_inference_steps=2)
    cfg_group.send(follow)
    _, done = cfg_group.until_terminal("g-after")
    assert done["type"] == "done", done


def run_until_step(worker: WorkerProcess, request: dict[str, Any], step: int) -> None:
    worker.send(request)
    while True:
        event = worker.next_event()
        assert event["type"] == "progress", event
        if event["step"] >= step:
            return


def assert_group_died(worker: WorkerProcess, reason: str, within_s: float) -> None:
    """``reason``: a regular expression the log must match."""
    started = time.monotonic()
    code = worker.proc.wait(timeout=within_s)
    assert code == 1, code
    # No event for the job: the supervisor sees a crash and requeues it.
    while not worker.events.empty():
        event = worker.events.get()
        assert event["type"] == "progress", event
    log = "".join(worker.stderr_lines)
    assert "worker group broken" in log and re.search(reason, log), log[-3000:]
    print(f"group exited {time.monotonic() - started:.1f}s after the fault")


def test_a_rank_killed_or_hung_takes_the_group_down_and_a_restart_serves_the_job(tmp_path: Path) -> None:
    env = {"T2V_PARALLEL": "ulysses:2", "T2V_PARALLEL_TIMEOUT_S": "5"}
    request = generate_request("g-crash", tmp_path, width=64, height=64, num_frames=5, num_inference_steps=30)
    worker = start(env)
    try:
        (rank1,) = other_ranks(worker)
        run_until_step(worker, request, 2)
        os.kill(rank1, signal.SIGKILL)
        # The watchdog sees the exit, or a collective sees the closed connection first.
        assert_group_died(
            worker, r"rank 1 exited with status -9|Connection (reset|closed) by peer", within_s=30
        )
    finally:
        worker.proc.kill()
    # What the supervisor does next: a new group, the same job.
    restarted = start(env)
    stopped: list[int] = []
    try:
        restarted.send(request)
        _, done = restarted.until_terminal("g-crash", timeout=180)
        assert done["type"] == "done", done
        assert Path(done["path"]).stat().st_size > 0
        # A rank that hangs (stopped) mid-job: the next collective times out after 5 s.
        (rank1,) = other_ranks(restarted)
        hang = generate_request("g-hang", tmp_path, width=64, height=64, num_frames=5, num_inference_steps=30)
        run_until_step(restarted, hang, 2)
        os.kill(rank1, signal.SIGSTOP)
        stopped.append(rank1)
        assert_group_died(restarted, r"[Tt]imed out|timeout", within_s=40)
        # The stopped rank was killed with the group (a zombie until its parent is reaped).
        deadline = time.monotonic() + 5
        while _alive(rank1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(rank1)
    finally:
        restarted.proc.kill()
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
