"""Entry point of ranks 1..N-1 of a worker group: ``python -m t2v_worker.parallel.rank``.

Started by rank 0 (``group.py``) with rank 0's environment plus ``T2V_PARALLEL_RANK``,
``T2V_PARALLEL_WORLD``, ``T2V_PARALLEL_PORT`` and ``T2V_PARALLEL_PARENT``. It loads the same
engine, says ``loaded`` on stdout, then runs every job rank 0 sends on stdin (pickled
``GenerateParams``) until the end of input. Its logs go to the worker's stderr. Any failure other
than a cancel or a refused job exits non-zero: the group cannot continue without this rank.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
import sys


def _die_with_parent(parent: int) -> None:
    """Rank 0 killed (even with SIGKILL) takes this rank with it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent:
        os._exit(1)


def main() -> int:
    status_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    status = os.fdopen(status_fd, "wb", buffering=0)
    rank = int(os.environ["T2V_PARALLEL_RANK"])
    world = int(os.environ["T2V_PARALLEL_WORLD"])
    port = int(os.environ["T2V_PARALLEL_PORT"])
    _die_with_parent(int(os.environ["T2V_PARALLEL_PARENT"]))
    level = os.environ.get("LOG_LEVEL", "info").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, {"WARN": "WARNING"}.get(level, level), logging.INFO),
        format=f"%(asctime)s %(levelname)s rank{rank} %(name)s: %(message)s",
    )
    log = logging.getLogger("t2v_worker.rank")

    from ..config import load_config
    from ..device import prepare_process_env
    from ..engines import create_engine
    from ..engines.base import hub_offline
    from ..errors import Cancelled, InvalidParams
    from .runtime import GroupRuntime, Mesh, init_process_group

    hub_offline()
    prepare_process_env()
    config = load_config()
    init_process_group(rank, world, port, config.device, config.parallel_timeout_s)
    mesh = Mesh(config.parallel, rank, config.device)
    engine = create_engine(config)
    engine.load()
    status.write(b"loaded\n")
    GroupRuntime(engine, config.parallel, mesh, config.device, config.parallel_timeout_s)
    log.info("rank %d of %d ready (%s)", rank, world, config.parallel)

    stdin = sys.stdin.buffer
    while True:
        try:
            params = pickle.load(stdin)
        except EOFError:
            log.info("rank %d: end of input; exiting", rank)
            return 0
        try:
            engine.generate(params, lambda _step, _total: None)
        except Cancelled as exc:
            log.info("rank %d: job cancelled (%s)", rank, exc)
        except InvalidParams as exc:
            log.info("rank %d: job refused (%s)", rank, exc)
        else:
            log.info("rank %d: job done", rank)


if __name__ == "__main__":
    try:
        code = main()
    except BaseException:  # noqa: BLE001 - logged; rank 0 sees the exit and restarts the group
        logging.getLogger("t2v_worker.rank").exception("rank failed")
        code = 1
    sys.stderr.flush()
    os._exit(code)
