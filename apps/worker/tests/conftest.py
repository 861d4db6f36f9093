"""Fixtures shared by the worker tests (helpers live in worker_support.py)."""

from __future__ import annotations

from typing import Any

import pytest

from worker_support import WorkerProcess


@pytest.fixture(scope="session")
def tiny_worker() -> Any:
    """One warm wan-tiny worker shared by the end-to-end tests (loading costs seconds)."""
    worker = WorkerProcess(
        {"T2V_ENGINE": "wan-tiny", "T2V_WORKER_DEVICE": "cpu", "T2V_HEARTBEAT_INTERVAL_S": "0.5"}
    )
    ready = worker.next_event(timeout=180)
    assert ready["type"] == "ready", ready
    worker.ready = ready  # type: ignore[attr-defined]
    yield worker
    worker.close()
