#!/usr/bin/env python3
"""Per-job latency of wan-tiny: one warm worker vs a fresh worker process per request.

The fresh case is what the original design paid (a `python generate.py` process per request):
interpreter start, imports, pipeline build, generation, encode, exit. Both cases write a real
MP4 and use the same parameters; run from anywhere with the worker's venv:

    apps/worker/.venv/bin/python apps/worker/scripts/latency.py --jobs 10 --fresh 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def request(job_id: str, out_dir: str, args: argparse.Namespace) -> str:
    return json.dumps(
        {
            "type": "generate",
            "job_id": job_id,
            "params": {
                "prompt": "a cat dancing in the rain",
                "negative_prompt": None,
                "width": args.size,
                "height": args.size,
                "num_frames": args.frames,
                "fps": 8,
                "num_inference_steps": args.steps,
                "guidance_scale": 5.0,
                "seed": 1,
                "flow_shift": None,
                "acceleration": "auto",
                "image": None,
                "loras": [],
                # Measured without live previews: a warm job's latency is the engine's own.
                "preview": False,
            },
            "out_path": os.path.join(out_dir, f"{job_id}.mp4"),
            "thumbnail_path": os.path.join(out_dir, f"{job_id}.jpg"),
        }
    )


def spawn() -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), T2V_ENGINE="wan-tiny", T2V_HEARTBEAT_INTERVAL_S="60")
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "t2v_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
        bufsize=1,
    )


def wait_for(proc: subprocess.Popen[str], kinds: set[str]) -> dict:
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] in kinds:
            return event
    raise RuntimeError("worker exited early")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=10)
    p.add_argument("--fresh", type=int, default=3)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    out_dir = tempfile.mkdtemp(prefix="t2v-latency-")

    started = time.perf_counter()
    worker = spawn()
    ready = wait_for(worker, {"ready", "error"})
    assert ready["type"] == "ready", ready
    startup_s = time.perf_counter() - started
    warm, inference, encode = [], [], []
    for i in range(args.jobs + 1):  # the first job pays one-off kernel set-up: not counted
        t0 = time.perf_counter()
        assert worker.stdin is not None
        worker.stdin.write(request(f"warm{i}", out_dir, args) + "\n")
        worker.stdin.flush()
        done = wait_for(worker, {"done", "error"})
        assert done["type"] == "done", done
        if i:
            warm.append(time.perf_counter() - t0)
            inference.append(done["timings"]["inference_s"])
            encode.append(done["timings"]["encode_s"])
    worker.stdin.write('{"type":"shutdown"}\n')
    worker.stdin.close()
    worker.wait()

    fresh = []
    for i in range(args.fresh):
        t0 = time.perf_counter()
        proc = spawn()
        assert proc.stdin is not None
        proc.stdin.write(request(f"fresh{i}", out_dir, args) + "\n" + '{"type":"shutdown"}\n')
        proc.stdin.close()
        done = wait_for(proc, {"done", "error"})
        assert done["type"] == "done", done
        proc.wait()
        fresh.append(time.perf_counter() - t0)

    result = {
        "job": f"{args.size}x{args.size}x{args.frames}, {args.steps} steps, CFG",
        "worker_start_to_ready_s": round(startup_s, 2),
        "ready_load_s": ready["load_s"],
        "warm_jobs": len(warm),
        "warm_median_s": round(statistics.median(warm), 3),
        "warm_min_s": round(min(warm), 3),
        "warm_inference_median_s": round(statistics.median(inference), 3),
        "warm_encode_median_s": round(statistics.median(encode), 3),
        "fresh_processes": len(fresh),
        "fresh_median_s": round(statistics.median(fresh), 3) if fresh else None,
        "speedup": round(statistics.median(fresh) / statistics.median(warm), 1) if fresh else None,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
