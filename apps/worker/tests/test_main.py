"""The entry point's process-level promises: stdout carries protocol lines only; SIGTERM is clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from worker_support import WORKER_DIR, WorkerProcess, generate_request

pytestmark = pytest.mark.slow


def test_library_output_cannot_reach_the_protocol_stream() -> None:
    code = (
        "import os, sys\n"
        "from t2v_worker.__main__ import _claim_stdout\n"
        "out = _claim_stdout()\n"
        "print('a stray print')\n"
        "sys.stdout.write('a stray write\\n')\n"
        "os.write(1, b'a C-level write\\n')\n"
        'out.write(\'{"type":"shutdown"}\\n\')\n'
        "out.flush()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-u", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(WORKER_DIR / "src")},
        check=True,
        timeout=60,
    )
    assert proc.stdout == '{"type":"shutdown"}\n'
    for noise in ("a stray print", "a stray write", "a C-level write"):
        assert noise in proc.stderr


def test_sigterm_cancels_the_job_and_exits_cleanly(tmp_path: Path) -> None:
    worker = WorkerProcess({"T2V_ENGINE": "wan-tiny", "T2V_HEARTBEAT_INTERVAL_S": "30"})
    assert worker.next_event(timeout=180)["type"] == "ready"
    worker.send(
        generate_request("long", tmp_path, width=512, height=512, num_frames=65, num_inference_steps=50)
    )
    while worker.next_event(timeout=60).get("step", 0) < 1:
        pass
    worker.proc.send_signal(signal.SIGTERM)
    _, error = worker.until_terminal("long", timeout=60)
    assert error["code"] == "CANCELLED"
    assert worker.proc.wait(timeout=30) == 0
    assert list(tmp_path.iterdir()) == []
