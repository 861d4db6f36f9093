#!/usr/bin/env python3
"""wan-tiny on CPU: wall time and transformer passes per job, with and without the step cache,
and with guidance 5 (two passes a step) against guidance 1 (one). Ratios within one run.

Each configuration runs ``--jobs`` identical jobs in one warm engine (the first is not counted);
what is timed is ``engine.generate`` (text encoding, denoising, VAE decode), not the MP4 encode.
Random weights do not decide cache skips as a trained model does: the pass counts show what this
threshold skips on this model, not on Wan2.2.

    apps/worker/.venv/bin/python apps/worker/scripts/accel_bench.py --jobs 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from t2v_worker.config import CacheSpec, WorkerConfig  # noqa: E402
from t2v_worker.engines.wan_tiny import WanTinyEngine  # noqa: E402
from t2v_worker.params import GenerateParams  # noqa: E402


def measure(engine: WanTinyEngine, params: GenerateParams, jobs: int) -> dict[str, float | int]:
    times: list[float] = []
    passes = planned = 0
    for i in range(jobs + 1):
        started = time.perf_counter()
        np.asarray(engine.generate(params, lambda _step, _total: None))  # decoded, as a job is
        elapsed = time.perf_counter() - started
        report = engine.run_report(params)
        if i:
            times.append(elapsed)
            passes, planned = report["passes"], report["planned_passes"]
    return {"median_s": round(statistics.median(times), 4), "passes": passes, "planned_passes": planned}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--threshold", type=float, default=0.5)
    args = p.parse_args()
    params = GenerateParams(
        prompt="a dog running on the beach",
        negative_prompt=None,
        width=128,
        height=128,
        num_frames=17,
        fps=8,
        num_inference_steps=args.steps,
        guidance_scale=5.0,
        seed=11,
        flow_shift=None,
    )
    plain = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    plain.load()
    cached = WanTinyEngine(WorkerConfig(engine="wan-tiny", cache=CacheSpec("first-block", args.threshold)))
    cached.load()
    off = measure(plain, params, args.jobs)
    on = measure(cached, params, args.jobs)
    g1 = measure(plain, dataclasses.replace(params, guidance_scale=1.0), args.jobs)
    result = {
        "job": f"128x128x17, {args.steps} steps, {args.jobs} timed jobs each (median)",
        "cache": str(cached.config.cache),
        "cache_off": off,
        "cache_on": on,
        "cache_speedup": round(off["median_s"] / on["median_s"], 2),
        "guidance_5": off,
        "guidance_1": g1,
        "guidance_1_speedup": round(off["median_s"] / g1["median_s"], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
