#!/usr/bin/env python3
"""What image-to-video and LoRA adapters cost the worker, measured on the CPU.

1. Weights: the bytes of every distinct tensor storage held by the wan-tiny text pipeline, then
   by the text and image pipelines together (the image pipeline is built over the same
   component objects, so any copy would show here), and the process RSS before and after
   building the image pipeline.
2. Activations: an image job's extra work is one VAE encode of the fitted image before
   denoising. The script builds the Wan2.2 TI2V-5B VAE at its real size (random weights, float32
   as the worker runs it) and reports the RSS high-water mark a single-frame encode adds at the
   given size, in a fresh process so nothing else raises the mark.
3. LoRA switch time: a transformer with the 5B model's 30 blocks (narrow, so it fits anywhere:
   the switch walks modules and sets Python scales, it does not touch weights) carrying two
   adapters on every attention projection and feed-forward layer (300 LoRA layers each); the
   median time of enabling one, switching to two with other scales, and disabling all.
4. ``--part compile``: why LoRA and ``T2V_COMPILE=blocks`` are not combined. wan-tiny with
   compiled blocks and one adapter; after each job, the graphs dynamo has compiled so far and
   the job's time, for a sequence of adapter choices (docs/adr/0016).

    apps/worker/.venv/bin/python apps/worker/scripts/i2v_lora_cost.py [--size 1280x704]
    apps/worker/.venv/bin/python apps/worker/scripts/i2v_lora_cost.py --part compile
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(SRC.parent / "tests"))

# The full-size Wan2.2-TI2V-5B VAE config, as the GPU benchmark builds it.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "bench" / "gpu"))
from bench import TI2V_5B_VAE  # noqa: E402
from worker_support import job_params, tensor_storages, write_tiny_lora  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def weights() -> dict[str, Any]:
    from t2v_worker.config import WorkerConfig
    from t2v_worker.engines.base import image_pipeline_from
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    engine.load()
    text_bytes = sum(tensor_storages(engine.pipe).values())
    before = rss()
    pipes = [image_pipeline_from(engine.pipe) for _ in range(10)]
    after = rss()
    return {
        "text_pipeline_tensor_bytes": text_bytes,
        "text_and_image_pipeline_tensor_bytes": sum(tensor_storages(engine.pipe, *pipes).values()),
        "rss_added_per_image_pipeline_bytes": (after - before) // len(pipes),
    }


def vae_encode(width: int, height: int) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    vae = AutoencoderKLWan(**TI2V_5B_VAE).eval()
    params = sum(p.numel() for p in vae.parameters())
    frame = torch.rand(1, 3, 1, height, width) * 2 - 1
    base = max_rss()
    started = time.monotonic()
    with torch.inference_mode():
        latent = vae.encode(frame).latent_dist.mode()
    return {
        "vae_params": params,
        "size": f"{width}x{height}",
        "latent_shape": list(latent.shape),
        "encode_s": round(time.monotonic() - started, 2),
        "encode_peak_rss_added_bytes": max_rss() - base,
    }


def lora_switch(repeats: int) -> dict[str, Any]:
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel
    from safetensors.torch import save_file

    from t2v_worker.config import LoraSpec
    from t2v_worker.engines.lora import LoraSet, count_lora_layers
    from t2v_worker.engines.wan_tiny import build_components
    from t2v_worker.params import LoraChoice

    components = build_components(torch)
    components["transformer"] = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=48,
        out_channels=48,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=30,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    ).eval()
    pipe = WanPipeline(**components, transformer_2=None, expand_timesteps=True)
    targets = [f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0")]
    targets += ["ffn.net.0.proj", "ffn.net.2"]
    shapes = {
        name: (module.in_features, module.out_features)
        for name, module in pipe.transformer.blocks[0].named_modules()
        if name in targets
    }
    folder = Path(tempfile.mkdtemp())
    specs = []
    for i, name in enumerate(("first", "second")):
        generator = torch.Generator().manual_seed(i)
        tensors = {}
        for block in range(30):
            for target, (fan_in, fan_out) in shapes.items():
                key = f"transformer.blocks.{block}.{target}"
                tensors[f"{key}.lora_A.weight"] = torch.randn(8, fan_in, generator=generator)
                tensors[f"{key}.lora_B.weight"] = torch.randn(fan_out, 8, generator=generator)
        save_file(tensors, str(folder / f"{name}.safetensors"))
        specs.append(LoraSpec(name, str(folder / f"{name}.safetensors")))
    loras = LoraSet(tuple(specs))
    started = time.monotonic()
    loras.load(pipe)
    load_s = time.monotonic() - started
    one = (LoraChoice("first", 0.8),)
    two = (LoraChoice("first", 0.5), LoraChoice("second", 1.0))
    times: dict[str, list[float]] = {"off_to_one": [], "one_to_two": [], "two_to_off": []}
    for _ in range(repeats):
        for key, choices in (("off_to_one", one), ("one_to_two", two), ("two_to_off", ())):
            loras.apply(pipe, choices)
            times[key].append(loras.last_switch_s)
    return {
        "blocks": 30,
        "lora_layers_per_adapter": count_lora_layers(pipe.transformer, "first"),
        "load_two_adapters_s": round(load_s, 3),
        **{f"{k}_median_ms": round(statistics.median(v) * 1000, 2) for k, v in times.items()},
    }


def compile_with_lora() -> list[dict[str, Any]]:
    import dataclasses

    from torch._dynamo.utils import counters

    from t2v_worker.config import LoraSpec, WorkerConfig
    from t2v_worker.engines.wan_tiny import WanTinyEngine
    from t2v_worker.params import LoraChoice

    # A rank-4 adapter on every attention projection of wan-tiny.
    path = write_tiny_lora(Path(tempfile.mkdtemp()) / "style.safetensors", seed=1)
    # The worker's configuration refuses this pair; the engine is built directly to show why.
    engine = WanTinyEngine(WorkerConfig(loras=(LoraSpec("style", str(path)),), compile="blocks"))
    engine.load()
    job = job_params(
        prompt="a cat", negative_prompt=None, num_frames=5, num_inference_steps=1, guidance_scale=1.0, seed=1
    )
    rows = []
    for choice in (None, None, 1.0, 1.0, 0.5, 0.7, None):
        loras = () if choice is None else (LoraChoice("style", choice),)
        started = time.monotonic()
        np.asarray(engine.generate(dataclasses.replace(job, loras=loras), lambda *_: None))
        rows.append(
            {
                "style_scale": choice,
                "graphs_so_far": counters["stats"]["unique_graphs"],
                "job_s": round(time.monotonic() - started, 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x704", help="frame size of the VAE encode, WxH")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--part", choices=("all", "vae", "compile"), default="all")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    if args.part == "vae":
        print(json.dumps(vae_encode(width, height)))
        return
    if args.part == "compile":
        print(json.dumps(compile_with_lora(), indent=2))
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    result: dict[str, Any] = {"weights": weights(), "lora_switch": lora_switch(args.repeats)}
    out = subprocess.run(
        [sys.executable, __file__, "--part", "vae", "--size", args.size],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result["image_encode"] = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
