"""The serving loop in-process, one fake engine per failure mode (and the real wan-tiny for OOM)."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from t2v_worker import protocol
from t2v_worker.card import ModelInfo, Ranges
from t2v_worker.config import WorkerConfig
from t2v_worker.engines.base import Engine
from t2v_worker.engines.wan import WanEngine
from t2v_worker.output import find_ffmpeg
from t2v_worker.params import EngineLimits, GenerateParams, validate
from t2v_worker.profile import ModelProfile, Range
from t2v_worker.server import EXIT_DEVICE_FAULT, Emitter, Heartbeat, Server, oom_message
from worker_support import WorkerProcess, generate_request, job_params, write_image


class Recorder(io.StringIO):
    """A stdout that checks every line against the protocol as it is written."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            with self.lock:
                self.events.append(protocol.parse_event(line))
        return len(text)

    def of(self, job_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e.get("job_id") == job_id]

    def terminal(self, job_id: str) -> dict[str, Any]:
        return next(e for e in self.of(job_id) if e["type"] in ("done", "error"))


class FakeEngine(Engine):
    """Steps through a schedule quickly; `fail_with` raises at `fail_at` (a step number)."""

    name = "fake"
    info = ModelInfo(id="fake", description="a fake engine", owned_by="t2v", created=0)
    limits = EngineLimits(max_side=256, max_pixels=256 * 256, max_frames=33, max_steps=50)
    ranges = Ranges(fps=(1, 30), seconds=(1, 4))
    default_profile = ModelProfile(
        id=None,
        description=None,
        num_inference_steps=Range(min=1, max=50, default=4),
        guidance_scale=Range(min=0, max=20, default=5),
        flow_shift=None,
        source="built-in (fake)",
        fps=8,
        num_frames=17,
        sizes=((128, 128), (256, 256)),
    )

    def __init__(self, step_s: float = 0.0, fail_with: BaseException | None = None, fail_at: int = 1) -> None:
        super().__init__(WorkerConfig())
        self.step_s = step_s
        self.fail_with = fail_with
        self.fail_at = fail_at
        self.freed = 0
        self.started = threading.Event()

    def generate(self, params: GenerateParams, on_step: Any) -> Any:
        validate(params, self.limits)
        self.started.set()
        for step in range(1, params.num_inference_steps + 1):
            time.sleep(self.step_s)
            if self.fail_with is not None and step == self.fail_at:
                error, self.fail_with = self.fail_with, None  # only the first job fails
                raise error
            on_step(step, params.num_inference_steps)
        return np.full((params.num_frames, params.height, params.width, 3), 0.5, dtype=np.float32)

    def free_memory(self) -> None:
        self.freed += 1


def _server(engine: Engine) -> tuple[Server, Recorder]:
    out = Recorder()
    return Server(engine, Emitter(out), find_ffmpeg(None)), out


def _run(server: Server, *requests: dict[str, Any]) -> None:
    """Sends each request after the previous job ended, as the supervisor does, then shuts down."""
    out: Recorder = server.emitter._stream  # type: ignore[assignment]
    runner = threading.Thread(target=server.serve)
    runner.start()
    for request in requests:
        server.handle_line(json.dumps(request))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            e["type"] in ("done", "error") for e in out.of(request["job_id"])
        ):
            time.sleep(0.005)
    server.stop(cancel_current=False)
    runner.join(60)
    assert not runner.is_alive()


def test_a_job_reports_progress_then_done(tmp_path: Path) -> None:
    server, out = _server(FakeEngine())
    _run(server, generate_request("j1", tmp_path, width=64, height=32, num_frames=9))
    events = out.of("j1")
    assert [e["step"] for e in events if e["type"] == "progress"] == [0, 1, 2, 3, 4]
    done = events[-1]
    assert done["type"] == "done"
    assert (done["frames"], done["width"], done["height"], done["fps"]) == (9, 64, 32, 8)
    assert Path(done["path"]).is_file() and Path(done["thumbnail_path"]).is_file()


def test_invalid_params_for_the_engine(tmp_path: Path) -> None:
    server, out = _server(FakeEngine())
    _run(server, generate_request("j1", tmp_path, width=100))
    error = out.terminal("j1")
    assert error["code"] == "INVALID_PARAMS" and "multiple of 32" in error["message"]
    assert [e["type"] for e in out.of("j1")] == ["error"], "no progress for a refused job"
    assert not (tmp_path / "j1.mp4").exists()


def test_malformed_generate_is_answered(tmp_path: Path) -> None:
    server, out = _server(FakeEngine())
    bad = generate_request("j1", tmp_path, num_frames=16)
    _run(server, bad, generate_request("j2", tmp_path))
    assert out.terminal("j1")["code"] == "INVALID_PARAMS"
    assert out.terminal("j2")["type"] == "done"


def test_garbage_lines_are_only_logged(tmp_path: Path) -> None:
    server, out = _server(FakeEngine())
    server.handle_line("not json\n")
    server.handle_line('{"type":"telemetry"}\n')
    _run(server, generate_request("j1", tmp_path))
    assert [e["type"] for e in out.events if e.get("job_id") != "j1"] == []


def test_generate_while_busy_is_refused(tmp_path: Path) -> None:
    engine = FakeEngine(step_s=0.05)
    server, out = _server(engine)
    runner = threading.Thread(target=server.serve)
    runner.start()
    server.handle_line(json.dumps(generate_request("j1", tmp_path)))
    assert engine.started.wait(5)
    server.handle_line(json.dumps(generate_request("j2", tmp_path)))
    server.handle_line(json.dumps(generate_request("j1", tmp_path)))  # duplicate: ignored
    server.stop(cancel_current=False)
    runner.join(10)
    refused = out.terminal("j2")
    assert refused["code"] == "ENGINE_ERROR" and "busy with job j1" in refused["message"]
    assert out.terminal("j1")["type"] == "done"
    assert len([e for e in out.of("j1") if e["type"] == "done"]) == 1


def test_next_job_is_accepted_as_soon_as_done_is_written(tmp_path: Path) -> None:
    # The supervisor sends the next job the moment it reads `done`; that must not be "busy".
    server, out = _server(FakeEngine())
    runner = threading.Thread(target=server.serve)
    runner.start()
    for i in range(3):
        server.handle_line(json.dumps(generate_request(f"j{i}", tmp_path)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            e["type"] in ("done", "error") for e in out.of(f"j{i}")
        ):
            time.sleep(0.01)
    server.stop(cancel_current=False)
    runner.join(10)
    assert [out.terminal(f"j{i}")["type"] for i in range(3)] == ["done"] * 3


def test_cancel_stops_within_one_step(tmp_path: Path) -> None:
    engine = FakeEngine(step_s=0.05)
    server, out = _server(engine)
    runner = threading.Thread(target=server.serve)
    runner.start()
    server.handle_line(json.dumps(generate_request("j1", tmp_path, num_inference_steps=50)))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(e.get("step") == 3 for e in out.of("j1")):
        time.sleep(0.005)
    server.handle_line(json.dumps({"type": "cancel", "job_id": "j1"}))
    server.handle_line(json.dumps({"type": "cancel", "job_id": "other"}))  # unknown: ignored
    server.stop(cancel_current=False)
    runner.join(10)
    error = out.terminal("j1")
    steps = [e["step"] for e in out.of("j1") if e["type"] == "progress"]
    assert error["code"] == "CANCELLED"
    assert max(steps) <= 4, steps
    assert not (tmp_path / "j1.mp4").exists()


def test_end_of_input_cancels_the_running_job(tmp_path: Path) -> None:
    engine = FakeEngine(step_s=0.05)
    server, out = _server(engine)
    runner = threading.Thread(target=server.serve)
    runner.start()
    server.read_requests(iter([json.dumps(generate_request("j1", tmp_path, num_inference_steps=50)) + "\n"]))
    runner.join(10)
    assert not runner.is_alive()
    assert out.terminal("j1")["code"] == "CANCELLED"


def test_shutdown_finishes_the_current_job(tmp_path: Path) -> None:
    engine = FakeEngine(step_s=0.01)
    server, out = _server(engine)
    runner = threading.Thread(target=server.serve)
    runner.start()
    server.read_requests(iter([json.dumps(generate_request("j1", tmp_path)) + "\n", '{"type":"shutdown"}\n']))
    runner.join(10)
    assert out.terminal("j1")["type"] == "done"


class FakeOutOfMemoryError(RuntimeError):
    pass


FakeOutOfMemoryError.__name__ = "OutOfMemoryError"


@pytest.mark.parametrize(
    "error",
    [
        FakeOutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("CUDA error: out of memory"),
    ],
)
def test_out_of_memory_fails_the_job_and_the_worker_keeps_serving(
    tmp_path: Path, error: BaseException
) -> None:
    engine = FakeEngine(fail_with=error, fail_at=2)
    server, out = _server(engine)
    _run(server, generate_request("j1", tmp_path), generate_request("j2", tmp_path))
    error = out.terminal("j1")
    assert error["code"] == "GPU_OOM"
    # Names what ran out and where, and what is likely to fit.
    assert "128x128, 17 frames, at denoising step 2 of 4" in error["message"]
    assert "try 9 frames at 128x128" in error["message"]
    assert engine.freed == 1
    assert out.terminal("j2")["type"] == "done"


@pytest.mark.parametrize(
    ("params", "step", "expected"),
    [
        (
            {"width": 1280, "height": 704, "num_frames": 121, "num_inference_steps": 50},
            7,
            "GPU out of memory generating 1280x704, 121 frames, at denoising step 8 of 50 (boom); "
            "try 61 frames at 1280x704 or 832x480 at 121 frames; T2V_CPU_OFFLOAD=model trades speed",
        ),
        (
            {"width": 704, "height": 1280, "num_frames": 121, "num_inference_steps": 50},
            50,
            "generating 704x1280, 121 frames, while decoding the video (boom); try 61 frames at 704x1280 "
            "or 480x832 at 121 frames; decoding in tiles needs less memory: lower T2V_VAE_DECODE_BUDGET_MIB "
            "(a job whose decode is estimated above it is tiled automatically) or tile every job with "
            "T2V_VAE_TILING=true",
        ),
        (
            {"width": 128, "height": 128, "num_frames": 1, "num_inference_steps": 4},
            0,
            "try a smaller request",
        ),
    ],
)
def test_out_of_memory_message(params: dict[str, int], step: int, expected: str) -> None:
    job = job_params(**params)
    assert expected in oom_message(job, step, "boom", WanEngine.default_profile.sizes)


def test_out_of_memory_hints_come_from_the_engines_own_presets() -> None:
    job = job_params(width=256, height=256, num_frames=17)
    assert "128x128 at 17 frames" in oom_message(job, 1, "boom", FakeEngine.default_profile.sizes)
    assert "832x480" not in oom_message(job, 1, "boom", FakeEngine.default_profile.sizes)


def test_engine_failure_is_reported_and_the_worker_keeps_serving(tmp_path: Path) -> None:
    engine = FakeEngine(fail_with=ValueError("shape mismatch"), fail_at=1)
    server, out = _server(engine)
    _run(server, generate_request("j1", tmp_path), generate_request("j2", tmp_path))
    error = out.terminal("j1")
    assert error["code"] == "ENGINE_ERROR" and "shape mismatch" in error["message"]
    assert out.terminal("j2")["type"] == "done"


ILLEGAL_ACCESS = (
    "CUDA error: an illegal memory access was encountered\n"
    "CUDA kernel errors might be asynchronously reported at some other API call"
)


def test_a_sticky_cuda_error_exits_the_worker_without_an_event_for_the_job(tmp_path: Path) -> None:
    """After an illegal memory access every later CUDA call fails: the worker says why and
    exits (the supervisor restarts it, the job runner retries the job); it never takes j2."""
    engine = FakeEngine(fail_with=RuntimeError(ILLEGAL_ACCESS), fail_at=2)
    exits: list[int] = []
    out = Recorder()
    server = Server(engine, Emitter(out), find_ffmpeg(None), exit_fn=exits.append)
    server.handle_line(json.dumps(generate_request("j1", tmp_path)))
    server.stop(cancel_current=False)  # the queue ends after j1
    server.serve()
    assert exits == [EXIT_DEVICE_FAULT]
    assert [e["type"] for e in out.of("j1")] == ["progress", "progress"], "no terminal event for j1"
    fault = [e for e in out.events if e["type"] == "error" and e["job_id"] is None]
    assert len(fault) == 1 and fault[0]["code"] == "ENGINE_ERROR"
    assert (
        "CUDA context is unusable after job j1 failed with RuntimeError: CUDA error: an illegal"
        in (fault[0]["message"])
    )
    assert engine.freed == 0


@pytest.mark.slow
def test_a_sticky_cuda_error_in_the_real_worker(tmp_path: Path) -> None:
    """The real worker process with wan-tiny whose transformer fails the way CUDA does after an
    illegal memory access (that call and every later one): job 1 is done, job 2 gets no event and
    the process exits 1 after saying why."""
    prelude = f"""
import diffusers
model = diffusers.WanTransformer3DModel
forward = model.forward
calls = {{"n": 0}}
def failing(self, *args, **kwargs):
    calls["n"] += 1
    if calls["n"] > 8:  # job 1: 4 steps x 2 passes
        raise RuntimeError({ILLEGAL_ACCESS!r})
    return forward(self, *args, **kwargs)
model.forward = failing
"""
    worker = WorkerProcess({"T2V_ENGINE": "wan-tiny", "T2V_HEARTBEAT_INTERVAL_S": "30"}, prelude=prelude)
    try:
        assert worker.next_event(timeout=180)["type"] == "ready"
        worker.send(generate_request("j1", tmp_path))
        assert worker.until_terminal("j1")[1]["type"] == "done"
        worker.send(generate_request("j2", tmp_path))
        progress = worker.next_event(timeout=60)
        assert (progress["type"], progress["job_id"], progress["step"]) == ("progress", "j2", 0)
        fault = worker.next_event(timeout=60)
        assert (fault["type"], fault["job_id"], fault["code"]) == ("error", None, "ENGINE_ERROR")
        assert "CUDA context is unusable after job j2" in fault["message"]
        assert worker.proc.wait(timeout=30) == EXIT_DEVICE_FAULT
        assert worker.events.empty(), "nothing after the fault, and no event for j2"
    finally:
        worker.close()
    assert not (tmp_path / "j2.mp4").exists()
    assert any("illegal memory access" in line for line in worker.stderr_lines)


def test_storage_error_then_the_next_job_is_served(tmp_path: Path) -> None:
    server, out = _server(FakeEngine())
    bad = generate_request("j1", tmp_path / "missing")
    _run(server, bad, generate_request("j2", tmp_path))
    error = out.terminal("j1")
    assert error["code"] == "STORAGE_ERROR" and "missing" in error["message"]
    assert out.terminal("j2")["type"] == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j2.jpg", "j2.mp4"]


def test_heartbeat_beats_while_a_job_runs(tmp_path: Path) -> None:
    engine = FakeEngine(step_s=0.05)
    server, out = _server(engine)
    heartbeat = Heartbeat(server.emitter, engine, 0.05)
    heartbeat.start()
    _run(server, generate_request("j1", tmp_path, num_inference_steps=10))
    heartbeat.stop()
    beats = [e for e in out.events if e["type"] == "heartbeat"]
    assert len(beats) >= 3
    assert beats[0]["gpu_mem_bytes"] is None and beats[0]["rss_bytes"] > 0


def test_emitter_survives_a_closed_stdout() -> None:
    stream = io.StringIO()
    emitter = Emitter(stream)
    stream.close()
    emitter.emit(protocol.progress("j", 0, 1))
    assert emitter.closed


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["text", "image"])
def test_real_pipeline_out_of_memory(tmp_path: Path, kind: str) -> None:
    """wan-tiny with its transformer failing the way CUDA does; the next job still works (an
    image job runs the image pipeline over the same transformer: the same handling)."""
    torch = pytest.importorskip("torch")
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    engine.load()
    transformer = engine.pipe.transformer
    original = transformer.forward
    calls = {"n": 0}

    def forward(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return original(*args, **kwargs)

    transformer.forward = forward
    server, out = _server(engine)
    image = write_image(tmp_path / "in.png", 128, 128, seed=1) if kind == "image" else None
    _run(server, generate_request("j1", tmp_path, image=image), generate_request("j2", tmp_path, image=image))
    error = out.terminal("j1")
    assert error["code"] == "GPU_OOM" and "out of memory" in error["message"]
    assert out.terminal("j2")["type"] == "done"
    assert not (tmp_path / "j1.mp4").exists() and (tmp_path / "j2.mp4").is_file()
