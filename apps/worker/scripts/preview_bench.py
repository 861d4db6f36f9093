#!/usr/bin/env python3
"""What a live preview costs at Wan2.2-TI2V-5B's full latent shape, on this CPU, against a step.

A preview (``t2v_worker/preview.py``) projects the scheduler's estimate of the clean latents
(1×48×31×44×80 for 1280×704, 121 frames) to RGB with the fitted 48→3 map, picks four frames,
upscales them and encodes one WebP. Timed here end to end on the CPU (``--rounds`` times, the
median), with latents of unit-normal noise: the least compressible content, so the slowest
encode and the largest picture. The projection map is wan-tiny's fitted one (its values do not
change the cost).

The baseline, measured in the same run: this CPU's float32 matrix-multiply throughput on the
transformer's own feed-forward shape (3072→14336), which turns the model's work per step into
seconds. One step of TI2V-5B at that shape is two transformer passes (classifier-free guidance)
of ≈ 550 TFLOP each (30 blocks, 27 280 tokens: the linear layers, 2 FLOP per weight per token,
and attention, 4·tokens²·width per block), so the step time below is a projection from a
measured throughput, not a timed step (one would take hours here).

    apps/worker/.venv/bin/python apps/worker/scripts/preview_bench.py --rounds 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from t2v_worker.engines.wan_tiny import build_components  # noqa: E402
from t2v_worker.preview import encode_grid, fit_projection, project  # noqa: E402

# Wan2.2-TI2V-5B at 1280×704, 121 frames: 16× in space, 4× in time (+1), 48 channels.
WIDTH, HEIGHT, FRAMES, CHANNELS = 1280, 704, 121, 48
LATENT = (1, CHANNELS, (FRAMES - 1) // 4 + 1, HEIGHT // 16, WIDTH // 16)
TOKENS = LATENT[2] * (LATENT[3] // 2) * (LATENT[4] // 2)  # the transformer patches 2×2
PARAMS, BLOCKS, DIM, FFN = 5.0e9, 30, 3072, 14336
PASS_FLOP = 2 * PARAMS * TOKENS + BLOCKS * 4 * TOKENS**2 * DIM
STEP_FLOP = 2 * PASS_FLOP  # classifier-free guidance: two passes a step


def gemm_throughput(rounds: int) -> float:
    """FLOP/s of float32 (2048×3072)·(3072×14336) on this CPU, median of `rounds`."""
    a = torch.randn(2048, DIM)
    b = torch.randn(DIM, FFN)
    torch.mm(a, b)  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * 2048 * DIM * FFN / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    projection = fit_projection(torch, build_components(torch)["vae"])
    latents = torch.randn(*LATENT)
    project_ms, encode_ms, total_ms, sizes = [], [], [], []
    for i in range(args.rounds + 1):
        started = time.perf_counter()
        frames = project(torch, projection, latents)
        projected = time.perf_counter()
        data, mime, width, height = encode_grid(frames, WIDTH, HEIGHT)
        done = time.perf_counter()
        if i:  # the first round warms the allocator and the encoder
            project_ms.append((projected - started) * 1000)
            encode_ms.append((done - projected) * 1000)
            total_ms.append((done - started) * 1000)
            sizes.append(len(data))
    flops = gemm_throughput(max(3, args.rounds // 4))
    step_s = STEP_FLOP / flops
    preview_ms = statistics.median(total_ms)
    print(
        json.dumps(
            {
                "latent_shape": list(LATENT),
                "video": f"{WIDTH}x{HEIGHT}x{FRAMES}",
                "rounds": args.rounds,
                "threads": torch.get_num_threads(),
                "preview": {
                    "median_ms": round(preview_ms, 2),
                    "project_median_ms": round(statistics.median(project_ms), 2),
                    "encode_median_ms": round(statistics.median(encode_ms), 2),
                    "max_ms": round(max(total_ms), 2),
                    "bytes": max(sizes),
                    "mime": mime,
                    "picture": f"{width}x{height}",
                },
                "baseline": {
                    "gemm_gflops": round(flops / 1e9, 1),
                    "pass_tflop": round(PASS_FLOP / 1e12, 1),
                    "projected_step_s": round(step_s, 1),
                },
                "preview_share_of_step": preview_ms / 1000 / step_s,
                # A step that took only a minute would still leave the preview far inside 2 %.
                "preview_share_of_a_60s_step": preview_ms / 1000 / 60,
            }
        )
    )


if __name__ == "__main__":
    main()
