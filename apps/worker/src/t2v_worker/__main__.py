"""Entry point: ``python -u -m t2v_worker`` (``--card``: print the model card and exit).

Only protocol lines may reach stdout, so the real stdout is kept on a private descriptor and
descriptor 1 is pointed at stderr before anything else is imported: a stray ``print`` or a C
library's message then lands in the logs instead of corrupting the protocol stream.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time


def _claim_stdout() -> io.TextIOWrapper:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return io.TextIOWrapper(os.fdopen(protocol_fd, "wb", buffering=0), encoding="utf-8", line_buffering=True)


def _setup_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "info").upper()
    level = {"WARN": "WARNING"}.get(level, level)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def print_card() -> int:
    """``--card``: the model card of the configured engine and profile as one JSON line, without
    loading anything (no torch import): what an API with no worker of its own serves until one
    publishes. A bad setting exits EXIT_PERMANENT with the reason on stderr."""
    _setup_logging()
    from . import protocol
    from .config import ConfigError, load_config
    from .engines import create_engine
    from .errors import WorkerError

    try:
        card = create_engine(load_config()).card()
    except (ConfigError, WorkerError) as exc:
        sys.stderr.write(f"{exc}\n")
        return protocol.EXIT_PERMANENT
    problem = protocol.model_card_problem(card)
    if problem:
        sys.stderr.write(f"invalid model card: {problem}\n")
        return 1
    sys.stdout.write(protocol.encode(card))
    sys.stdout.flush()
    return 0


def main() -> int:
    if sys.argv[1:] == ["--card"]:
        return print_card()
    proto_out = _claim_stdout()
    _setup_logging()
    log = logging.getLogger("t2v_worker")

    from . import protocol
    from .config import ConfigError, load_config
    from .device import prepare_process_env
    from .engines import create_engine
    from .engines.base import hub_offline
    from .errors import SETUP_HINT, WorkerError, is_permanent
    from .output import find_ffmpeg
    from .parallel.group import start_group
    from .server import Emitter, Heartbeat, Server

    hub_offline()
    # Before any CUDA use (a worker group initialises CUDA before the engine loads).
    prepare_process_env()
    emitter = Emitter(proto_out)
    try:
        config = load_config()
    except ConfigError as exc:
        log.error("bad configuration: %s", exc)
        emitter.emit(protocol.error(None, "MODEL_LOAD_FAILED", f"bad configuration: {exc}"))
        return protocol.EXIT_PERMANENT

    engine = create_engine(config)
    heartbeat = Heartbeat(emitter, engine, config.heartbeat_interval_s)
    heartbeat.start()

    started = time.monotonic()
    group = None
    try:
        ffmpeg = find_ffmpeg(config.ffmpeg)
        log.info("loading engine %s on %s (ffmpeg: %s)", config.engine, config.device, ffmpeg)
        # T2V_PARALLEL: the other ranks start now and load alongside this one (rank 0).
        group = start_group(config) if config.parallel.enabled else None
        engine.load()
        if group is not None:
            group.attach(engine)
        # Compiled blocks always warm up: the first user job must not pay for compiling.
        if config.warmup or config.compile == "blocks":
            warm_started = time.monotonic()
            engine.warmup()
            log.info("warm-up took %.2fs", time.monotonic() - warm_started)
    except WorkerError as exc:
        log.error("model load failed: %s", exc)
        emitter.emit(protocol.error(None, "MODEL_LOAD_FAILED", str(exc)))
        return protocol.EXIT_PERMANENT if is_permanent(exc) else 1
    except Exception as exc:  # noqa: BLE001 - whatever broke, the supervisor gets one clear line
        log.exception("model load failed")
        message = f"{type(exc).__name__}: {exc}"
        if is_permanent(exc):
            emitter.emit(protocol.error(None, "MODEL_LOAD_FAILED", f"{message}; {SETUP_HINT}"))
            return protocol.EXIT_PERMANENT
        emitter.emit(protocol.error(None, "MODEL_LOAD_FAILED", message))
        return 1
    load_s = time.monotonic() - started
    log.info("ready: %s (%s) on %s in %.2fs", engine.model_id, engine.name, engine.device, load_s)

    server = Server(engine, emitter, ffmpeg)

    def on_term(_signum: int, _frame: object) -> None:
        log.info("SIGTERM: cancelling the current job and exiting")
        server.stop(cancel_current=True)

    signal.signal(signal.SIGTERM, on_term)
    emitter.emit(protocol.ready(engine.device, load_s, engine.card()))

    reader = threading.Thread(
        target=server.read_requests, args=(sys.stdin,), name="stdin-reader", daemon=True
    )
    reader.start()
    server.serve()
    heartbeat.stop()
    if group is not None:
        group.close()
    log.info("worker exiting")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Skip interpreter teardown (≈2 s with torch loaded); every event is already flushed.
    os._exit(code)
