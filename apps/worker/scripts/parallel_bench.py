#!/usr/bin/env python3
"""wan-tiny on CPU: a job on 2 gloo ranks (``cfg``, ``ulysses:2``) against the same job on 1 rank.

Correctness and overhead, not speed: each rank has one CPU thread, the ranks talk over gloo on
the loopback, and wan-tiny's transformer is a small part of its job, so this says what the group
machinery costs (process group, per-step control all-reduce, CFG exchange, Ulysses all-to-all) and
that the frames do not change. Each configuration runs ``--jobs`` + 1 identical jobs in warm
processes (the first is not counted); what is timed is rank 0's ``engine.generate``.

    apps/worker/.venv/bin/python apps/worker/scripts/parallel_bench.py --jobs 5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

WORKER = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKER / "src"))
sys.path.insert(0, str(WORKER / "tests"))

import numpy as np  # noqa: E402

from parallel_ranks import group_frames, single_frames  # noqa: E402
from worker_support import job_params  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args()
    params = job_params(
        prompt="a dog running on the beach",
        negative_prompt=None,
        width=128,
        height=128,
        num_frames=17,
        num_inference_steps=args.steps,
    )
    repeats = args.jobs + 1
    one, one_s, _ = single_frames(params, repeats=repeats)
    result: dict[str, object] = {
        "job": f"{params.width}x{params.height}, {params.num_frames} frames, {params.num_inference_steps} steps, "
        f"guidance {params.guidance_scale:g}",
        "jobs": args.jobs,
        "one_rank": {"median_s": round(one_s, 4)},
    }
    for spec in ("cfg", "ulysses:2"):
        frames, seconds, report = group_frames(spec, params, repeats=repeats, timeout_s=900)
        result[spec] = {
            "median_s": round(seconds, 4),
            "overhead": round(seconds / one_s, 2),
            "max_abs_diff": float(np.abs(frames - one).max()),
            "passes": report["passes"],
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
