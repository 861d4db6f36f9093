"""The serving loop: requests in on one thread, one job at a time on the main thread, heartbeats
on a third. Every stdout line goes through one lock-guarded ``Emitter``.

Threads:
- reader: parses stdin lines, answers a ``generate`` while busy, flags ``cancel``, queues work;
- main: runs the queued job (torch stays on one thread) and exits after ``shutdown``;
- heartbeat: memory figures every ``T2V_HEARTBEAT_INTERVAL_S``, also while a job runs.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from . import protocol
from .device import is_sticky_cuda_error
from .engines.base import Engine
from .errors import Cancelled, GpuOutOfMemory, WorkerError, is_out_of_memory
from .output import video_shape, write_outputs
from .params import TEMPORAL_MULTIPLE, GenerateParams
from .preview import Previewer, PreviewPolicy

log = logging.getLogger(__name__)

EXIT_DEVICE_FAULT = 1
"""The CUDA context is unusable: an ordinary crash for the supervisor (restart, the job retried)."""


def exit_process(code: int) -> None:
    """Leaves at once: nothing more can run on a broken CUDA context (not even its teardown)."""
    sys.stderr.flush()
    os._exit(code)


class Emitter:
    """Serialises protocol lines on stdout. After the reader is gone, writes become no-ops."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def emit(self, event: dict[str, Any]) -> None:
        line = protocol.encode(event)
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.closed = True
                log.warning("stdout closed; the supervisor is gone")


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        except Exception:  # noqa: BLE001
            return None


class Heartbeat(threading.Thread):
    def __init__(self, emitter: Emitter, engine: Engine, interval_s: float) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self._emitter = emitter
        self._engine = engine
        self._interval_s = interval_s
        self._stop_event = threading.Event()

    def beat(self) -> None:
        used, total = self._engine.gpu_memory()
        self._emitter.emit(protocol.heartbeat(used, total, rss_bytes()))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.beat()
            self._stop_event.wait(self._interval_s)

    def stop(self) -> None:
        self._stop_event.set()


@dataclass
class Job:
    job_id: str
    params: GenerateParams
    out_path: str
    thumbnail_path: str
    cancel: threading.Event = field(default_factory=threading.Event)
    step: int = 0


class Server:
    """Serves jobs for one loaded engine until ``shutdown`` or end of input."""

    def __init__(
        self, engine: Engine, emitter: Emitter, ffmpeg: str, exit_fn: Callable[[int], None] = exit_process
    ) -> None:
        self.engine = engine
        self.emitter = emitter
        self.ffmpeg = ffmpeg
        self._exit = exit_fn
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._stopping = False
        self._work: queue.Queue[Job | None] = queue.Queue()

    # ---- reader side -------------------------------------------------------------------------

    def read_requests(self, lines: Iterable[str]) -> None:
        """Consumes request lines until EOF. End of input means the supervisor is gone: stop."""
        for line in lines:
            if line.strip():
                self.handle_line(line)
        with self._lock:
            shutting_down = self._stopping
        if shutting_down:
            log.info("stdin closed after shutdown; finishing the current job")
            self.stop(cancel_current=False)
        else:
            log.info("stdin closed: the supervisor is gone; cancelling the current job")
            self.stop(cancel_current=True)

    def handle_line(self, line: str) -> None:
        try:
            request = protocol.parse_request(line)
        except protocol.ProtocolError as exc:
            self._reject(line, exc)
            return
        if isinstance(request, protocol.GenerateRequest):
            self._accept(request)
        elif isinstance(request, protocol.CancelRequest):
            self.cancel(request.job_id)
        else:
            log.info("shutdown requested; exiting after the current job")
            self.stop(cancel_current=False)

    def _reject(self, line: str, exc: protocol.ProtocolError) -> None:
        # A generate we can attribute gets an answer; anything else is only logged.
        if exc.job_id is not None and not self._is_current(exc.job_id):
            self.emitter.emit(protocol.error(exc.job_id, "INVALID_PARAMS", f"invalid request: {exc}"))
        else:
            log.warning("ignoring invalid request line (%s): %.200s", exc, line.strip())

    def _is_current(self, job_id: str) -> bool:
        with self._lock:
            return self._current is not None and self._current.job_id == job_id

    def _accept(self, request: protocol.GenerateRequest) -> None:
        job = Job(
            job_id=request.job_id,
            params=request.params,
            out_path=request.out_path,
            thumbnail_path=request.thumbnail_path,
        )
        with self._lock:
            current = self._current
            if current is not None and current.job_id == job.job_id:
                log.warning("duplicate generate for running job %s ignored", job.job_id)
                return
            if current is not None or self._stopping:
                busy = f"busy with job {current.job_id}" if current else "shutting down"
                reason = f"worker is {busy}; one job at a time"
            else:
                reason = None
                self._current = job
        if reason is not None:
            self.emitter.emit(protocol.error(job.job_id, "ENGINE_ERROR", reason))
            return
        self._work.put(job)

    def cancel(self, job_id: str) -> None:
        with self._lock:
            job = self._current
        if job is not None and job.job_id == job_id:
            log.info("cancel requested for %s at step %d", job_id, job.step)
            job.cancel.set()
        else:
            log.info("cancel for %s ignored: not running", job_id)

    def stop(self, cancel_current: bool) -> None:
        with self._lock:
            self._stopping = True
            job = self._current
        if cancel_current and job is not None:
            job.cancel.set()
        self._work.put(None)

    # ---- job side ----------------------------------------------------------------------------

    def serve(self) -> None:
        """Runs queued jobs until stopped. Returns after the job in progress has finished."""
        while True:
            job = self._work.get()
            if job is None:
                return
            self.run_job(job)

    def run_job(self, job: Job) -> None:
        oom = False
        try:
            event = self._execute(job)
        except Cancelled as exc:
            event = protocol.error(job.job_id, "CANCELLED", str(exc))
        except WorkerError as exc:
            oom = isinstance(exc, GpuOutOfMemory)
            message = self._oom_message(job, str(exc)) if oom else str(exc)
            event = protocol.error(job.job_id, exc.code, message)
        except Exception as exc:  # noqa: BLE001 - one bad job must not take the worker down
            if is_sticky_cuda_error(exc):
                self._device_fault(job, exc)
                return
            if is_out_of_memory(exc):
                oom = True
                event = protocol.error(job.job_id, "GPU_OOM", self._oom_message(job, _short(exc)))
            else:
                log.exception("job %s failed", job.job_id)
                event = protocol.error(job.job_id, "ENGINE_ERROR", f"{type(exc).__name__}: {_short(exc)}")
        if oom:
            # The traceback (and the tensors it pins) is gone by now; hand the memory back.
            log.warning("job %s ran out of memory; freeing cached memory", job.job_id)
            self.engine.free_memory()
        with self._lock:
            self._current = None
        self.emitter.emit(event)

    def _previewer(self, job: Job) -> Previewer | None:
        """The job's live previews, unless the request or the settings turn them off."""
        engine, params = self.engine, job.params
        config = engine.config
        if not params.preview or config.preview_every_steps <= 0:
            return None
        projection = engine.projection_for_previews()
        if projection is None:
            return None

        def emit(step: int, total: int, data: bytes, mime: str, width: int, height: int) -> None:
            self.emitter.emit(protocol.preview(job.job_id, step, total, mime, width, height, data))

        policy = PreviewPolicy(config.preview_every_steps, config.preview_min_interval_s)
        return Previewer(engine.torch, projection, policy, emit, params.width, params.height)

    def _oom_message(self, job: Job, detail: str) -> str:
        return oom_message(job.params, job.step, detail, self.engine.defaults().sizes)

    def _device_fault(self, job: Job, exc: BaseException) -> None:
        """A CUDA error that poisons the context (an illegal memory access, a cuDNN execution
        failure, an NCCL error): every later job would fail too. No event for the job: the worker
        says why (an error outside any job) and exits; the supervisor restarts it and the job
        runner retries the job under its usual rule, on a fresh context."""
        log.critical("job %s: %s: %s", job.job_id, type(exc).__name__, exc, exc_info=exc)
        message = (
            f"the CUDA context is unusable after job {job.job_id} failed with {type(exc).__name__}: "
            f"{_short(exc, 300)}; the worker exits so that it restarts (the job is retried)"
        )
        self.emitter.emit(protocol.error(None, "ENGINE_ERROR", message))
        self._exit(EXIT_DEVICE_FAULT)

    def _execute(self, job: Job) -> dict[str, Any]:
        params = job.params
        self.engine.validate(params)  # before progress 0: a refused job never "starts"
        total = params.num_inference_steps
        self.emitter.emit(protocol.progress(job.job_id, 0, total))
        if job.cancel.is_set():
            raise Cancelled(f"cancelled at step 0 of {total}")

        def on_step(step: int, steps: int) -> None:
            job.step = step
            if job.cancel.is_set():
                raise Cancelled(f"cancelled at step {step} of {steps}")
            self.emitter.emit(protocol.progress(job.job_id, step, steps))

        started = time.monotonic()
        self.engine.previewer = self._previewer(job)
        try:
            frames = self.engine.generate(params, on_step)
        finally:
            self.engine.previewer = None
        inference_s = time.monotonic() - started

        def decoding() -> None:
            if job.cancel.is_set():
                raise Cancelled(f"cancelled during decode after step {total} of {total}")

        decoding()
        count, height, width = video_shape(frames)
        # A streamed video is decoded while it is encoded: encode_s covers both (docs/adr/0085).
        started = time.monotonic()
        write_outputs(frames, params.fps, job.out_path, job.thumbnail_path, self.ffmpeg, decoding)
        encode_s = time.monotonic() - started
        log.info(
            "job %s: %d frames %dx%d, inference %.2fs, encode %.2fs",
            job.job_id,
            count,
            width,
            height,
            inference_s,
            encode_s,
        )
        return protocol.done(
            job.job_id,
            job.out_path,
            job.thumbnail_path,
            count,
            params.fps,
            width,
            height,
            inference_s,
            encode_s,
            self.engine.run_report(params),
        )


def oom_message(params: GenerateParams, step: int, detail: str, presets: Sequence[tuple[int, int]]) -> str:
    """Names what ran out (size, frames, steps, where) and what is likely to fit instead: half the
    frames, or the largest of the engine's preset sizes (same orientation) with fewer pixels."""
    width, height, frames = params.width, params.height, params.num_frames
    steps = params.num_inference_steps
    where = "while decoding the video" if step >= steps else f"at denoising step {step + 1} of {steps}"
    # Activation memory grows with pixels × frames; half the frames (still 4k+1) roughly halves it.
    fewer = max(1, ((frames - 1) // 2) // TEMPORAL_MULTIPLE * TEMPORAL_MULTIPLE + 1)
    hints = [f"{fewer} frames at {width}x{height}" if fewer < frames else None]
    # Same orientation; a square size fits either.
    same_way = [s for s in presets if s[0] == s[1] or (s[0] >= s[1]) == (width >= height)]
    smaller = max(
        (s for s in same_way if s[0] * s[1] < width * height), key=lambda s: s[0] * s[1], default=None
    )
    if smaller is not None:
        hints.append(f"{smaller[0]}x{smaller[1]} at {frames} frames")
    tip = " or ".join(h for h in hints if h)
    advice = f"try {tip}" if tip else "try a smaller request"
    if step >= steps:
        # The decode streams one latent frame at a time: tiles, not fewer frames, shrink it.
        advice += (
            "; decoding in tiles needs less memory: lower T2V_VAE_DECODE_BUDGET_MIB (a job whose "
            "decode is estimated above it is tiled automatically) or tile every job with T2V_VAE_TILING=true"
        )
    else:
        advice += "; T2V_CPU_OFFLOAD=model trades speed for memory"
    return (
        f"GPU out of memory generating {width}x{height}, {frames} frames, {where} ({detail}); "
        f"{advice}. The worker freed the memory and serves the next job."
    )


def _short(exc: BaseException, limit: int = 500) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:limit]
