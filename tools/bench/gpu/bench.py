#!/usr/bin/env python3
"""Wan2.2-TI2V-5B denoising and VAE-decode benchmark on random weights.

Builds the full-size transformer and VAE from their real architecture configs (timing does not
depend on weight values, so no download is needed) and measures, at 1280×704×121 by default:
seconds per denoising step with classifier-free guidance (two transformer passes, as WanPipeline
runs them), VAE decode seconds, peak GPU memory, and model FLOP utilisation against the GPU's
dense bf16 peak. ``--tiny`` swaps in tiny configs so the script itself is tested on a CPU.

    python tools/bench/gpu/bench.py                       # full size on cuda
    python tools/bench/gpu/bench.py --compile --attention-backend flash
    python tools/bench/gpu/bench.py --tiny --device cpu   # CI smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Wan-AI/Wan2.2-TI2V-5B-Diffusers transformer/config.json.
TI2V_5B_TRANSFORMER = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 24,
    "attention_head_dim": 128,
    "in_channels": 48,
    "out_channels": 48,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 14336,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
# Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json (the latent statistics do not affect timing).
TI2V_5B_VAE = {
    "base_dim": 160,
    "decoder_base_dim": 256,
    "z_dim": 48,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "is_residual": True,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
    "latents_mean": [0.0] * 48,
    "latents_std": [1.0] * 48,
}
TI2V_5B_FLOW_SHIFT = 5.0
TEXT_LEN = 512

# The tiny configs of diffusers' Wan 2.2 5B pipeline tests: same structure, seconds on a CPU.
TINY_TRANSFORMER = {
    **TI2V_5B_TRANSFORMER,
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "text_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "rope_max_seq_len": 32,
}
TINY_VAE = {
    **TI2V_5B_VAE,
    "base_dim": 3,
    "decoder_base_dim": None,
    "dim_mult": [1, 1, 1, 1],
    "num_res_blocks": 1,
}
TINY_TEXT_LEN = 16

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), matched by substring of the device name.
BF16_PEAK_TFLOPS = (
    ("B200", 2250.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H20", 148.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 6000 Ada", 364.0),
    ("T4", 65.0),  # fp16: the T4 has no bf16 tensor cores
)


@dataclass
class Shape:
    height: int
    width: int
    frames: int
    latent_frames: int
    latent_height: int
    latent_width: int
    tokens: int


def latent_shape(
    height: int,
    width: int,
    frames: int,
    transformer: dict[str, Any],
    vae: dict[str, Any],
) -> Shape:
    spatial = vae["scale_factor_spatial"]
    temporal = vae["scale_factor_temporal"]
    _, ph, pw = transformer["patch_size"]
    if height % (spatial * ph) or width % (spatial * pw):
        raise SystemExit(f"height and width must be multiples of {spatial * ph}")
    if (frames - 1) % temporal:
        raise SystemExit(f"frames must be {temporal}k+1")
    lf, lh, lw = (frames - 1) // temporal + 1, height // spatial, width // spatial
    return Shape(height, width, frames, lf, lh, lw, lf * (lh // ph) * (lw // pw))


def attention_core_flops(cfg: dict[str, Any], tokens: int, text_len: int) -> float:
    """Q·Kᵀ and P·V of self- and cross-attention over all blocks (the part that grows as N²)."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    return cfg["num_layers"] * (2 * (2 * tokens * tokens * d) + 2 * (2 * tokens * text_len * d))


def transformer_flops(cfg: dict[str, Any], tokens: int, text_len: int) -> float:
    """Matmul FLOPs of one WanTransformer3DModel forward (2 per multiply-add).

    Per block: self-attention Q/K/V/O projections, cross-attention to the text (Q/O on the video
    tokens, K/V on the text), the GELU feed-forward, and the attention cores. Plus the patch
    embedding, the text embedder, the output head and the time embedding, which TI2V
    (``expand_timesteps``) computes per video token. Norms and RoPE are not matmuls.
    """
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    n, t, f = tokens, text_len, cfg["ffn_dim"]
    pt, ph, pw = cfg["patch_size"]
    patch = pt * ph * pw
    projections = 4 * (2 * n * d * d) + 2 * (2 * n * d * d) + 2 * (2 * t * d * d)
    ffn = 2 * (2 * n * d * f)
    embed = 2 * n * (cfg["in_channels"] * patch) * d
    text = 2 * t * cfg["text_dim"] * d + 2 * t * d * d
    head = 2 * n * d * (cfg["out_channels"] * patch)
    time_embed = 2 * n * (cfg["freq_dim"] * d + d * d + d * 6 * d)
    linear = cfg["num_layers"] * (projections + ffn) + embed + text + head + time_embed
    return linear + attention_core_flops(cfg, tokens, text_len)


def bf16_peak_tflops(device_name: str) -> float | None:
    for needle, peak in BF16_PEAK_TFLOPS:
        if needle.lower() in device_name.lower():
            return peak
    return None


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cast_like_from_pretrained(model: Any, dtype: Any, torch: Any) -> Any:
    """Casts as ``from_pretrained(torch_dtype=...)`` does: modules the model marks stay float32."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for name, param in model.named_parameters():
        fp32 = any(part in keep for part in name.split("."))
        param.data = param.data.to(torch.float32 if fp32 else dtype)
    return model


def build_models(args: argparse.Namespace, torch: Any) -> tuple[Any, Any, dict, dict]:
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    tcfg = TINY_TRANSFORMER if args.tiny else TI2V_5B_TRANSFORMER
    vcfg = TINY_VAE if args.tiny else TI2V_5B_VAE
    dtype = getattr(torch, args.dtype)
    vae_dtype = getattr(torch, args.vae_dtype)
    torch.manual_seed(0)
    # Built directly on the target device: a 5B model initialised on the CPU takes minutes.
    with torch.device(args.device):
        transformer = cast_like_from_pretrained(WanTransformer3DModel(**tcfg), dtype, torch).eval()
        vae = (
            None
            if args.skip_vae
            else cast_like_from_pretrained(AutoencoderKLWan(**vcfg), vae_dtype, torch).eval()
        )
    if args.attention_backend:
        transformer.set_attention_backend(args.attention_backend)
    if vae is not None and args.vae_tiling:
        vae.enable_tiling()
    if args.compile:
        transformer = torch.compile(transformer, mode=args.compile_mode, fullgraph=False)
    return transformer, vae, tcfg, vcfg


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from diffusers import UniPCMultistepScheduler

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; use --tiny --device cpu for a smoke run")
    dtype = getattr(torch, args.dtype)
    transformer, vae, tcfg, vcfg = build_models(args, torch)
    shape = latent_shape(args.height, args.width, args.frames, tcfg, vcfg)
    text_len = TINY_TEXT_LEN if args.tiny else args.text_len
    params = sum(p.numel() for p in (transformer._orig_mod if args.compile else transformer).parameters())

    gen = torch.Generator(device="cpu").manual_seed(0)
    latents = torch.randn(
        (
            1,
            vcfg["z_dim"],
            shape.latent_frames,
            shape.latent_height,
            shape.latent_width,
        ),
        generator=gen,
    ).to(args.device, dtype=torch.float32)
    cond = torch.randn((1, text_len, tcfg["text_dim"]), generator=gen).to(args.device, dtype)
    uncond = torch.randn((1, text_len, tcfg["text_dim"]), generator=gen).to(args.device, dtype)
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=TI2V_5B_FLOW_SHIFT,
    )
    total_steps = args.warmup + args.steps
    scheduler.set_timesteps(total_steps, device=args.device)

    def step(t: Any, x: Any) -> Any:
        # expand_timesteps (TI2V): one timestep per video token, as WanPipeline builds it.
        timestep = torch.full((1, shape.tokens), float(t), device=args.device)
        model_in = x.to(dtype)
        noise_c = transformer(
            hidden_states=model_in,
            timestep=timestep,
            encoder_hidden_states=cond,
            return_dict=False,
        )[0]
        noise_u = transformer(
            hidden_states=model_in,
            timestep=timestep,
            encoder_hidden_states=uncond,
            return_dict=False,
        )[0]
        noise = noise_u + args.guidance_scale * (noise_c - noise_u)
        return scheduler.step(noise, t, x, return_dict=False)[0]

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    step_times: list[float] = []
    with torch.inference_mode():
        for i, t in enumerate(scheduler.timesteps):
            _sync(torch, args.device)
            started = time.perf_counter()
            latents = step(t, latents)
            _sync(torch, args.device)
            if i >= args.warmup:
                step_times.append(time.perf_counter() - started)
        decode_s = None
        if vae is not None:
            z = latents.to(vae.dtype)
            _sync(torch, args.device)
            started = time.perf_counter()
            video = vae.decode(z, return_dict=False)[0]
            _sync(torch, args.device)
            decode_s = time.perf_counter() - started
            assert video.shape[2] == shape.frames, video.shape

    flops_step = 2 * transformer_flops(tcfg, shape.tokens, text_len)
    sec_step = statistics.median(step_times)
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    peak = args.peak_tflops or (bf16_peak_tflops(device_name) if args.device.startswith("cuda") else None)
    achieved = flops_step / sec_step / 1e12
    return {
        "model": "Wan2.2-TI2V-5B (random weights)" if not args.tiny else "wan-tiny (random weights)",
        "device": device_name,
        "torch": torch.__version__,
        "diffusers": __import__("diffusers").__version__,
        "dtype": args.dtype,
        "vae_dtype": args.vae_dtype,
        "attention_backend": args.attention_backend or "default",
        "compile": bool(args.compile),
        "shape": asdict(shape),
        "transformer_params": params,
        "steps_timed": len(step_times),
        "warmup_steps": args.warmup,
        "sec_per_step_cfg": round(sec_step, 4),
        "sec_per_step_all": [round(s, 4) for s in step_times],
        "est_50_step_s": round(50 * sec_step, 1),
        "vae_decode_s": None if decode_s is None else round(decode_s, 3),
        "tflop_per_step": round(flops_step / 1e12, 3),
        "achieved_tflops": round(achieved, 2),
        "peak_bf16_tflops": peak,
        "mfu": None if not peak else round(achieved / peak, 4),
        "peak_gpu_mem_bytes": int(torch.cuda.max_memory_allocated())
        if args.device.startswith("cuda")
        else None,
    }


# Attention backends the matrix tries, as the worker does on a GPU (fastest first), after the
# eager PyTorch SDPA baseline.
MATRIX_BACKENDS = ("_native_cudnn", "flash", "_flash_3")
GPU_SECTION_START = "<!-- gpu-bench:start -->"
GPU_SECTION_END = "<!-- gpu-bench:end -->"
WORKER_SRC = Path(__file__).resolve().parents[3] / "apps" / "worker" / "src"


class Stream:
    """Each case's result as one JSON line the moment it is known (and a line when it starts), so
    a run cut short still leaves every finished case behind. Flushed and synced per line."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        if not self.path:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**record, "t": round(time.time(), 1)}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class Budget:
    """Wall-clock budget of the matrix: a case that would start after it is reported as skipped."""

    def __init__(self, seconds: float) -> None:
        self.started = time.perf_counter()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.seconds - self.elapsed()


def run_matrix(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration of the issue in one process, on one set of random weights.

    Order: eager SDPA baseline; each other attention backend; compiled blocks (with the fastest
    backend; they stay compiled for what follows); First Block Cache cost of a computed and of a
    skipped pass; end to end (denoising + VAE decode) for 3 steps without CFG and 50 steps with
    CFG at the chosen size. Each case records seconds per step, MFU and peak memory.
    """
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; use --tiny --device cpu for a smoke run")
    if str(WORKER_SRC) not in sys.path:
        sys.path.insert(0, str(WORKER_SRC))
    from t2v_worker.engines.accel import compile_blocks

    budget = Budget(args.budget_s)
    stream = Stream(args.stream)
    dtype = getattr(torch, args.dtype)
    built = time.perf_counter()
    transformer, vae, tcfg, vcfg = build_models(argparse.Namespace(**{**vars(args), "compile": False}), torch)
    build_s = time.perf_counter() - built
    shape = latent_shape(args.height, args.width, args.frames, tcfg, vcfg)
    text_len = TINY_TEXT_LEN if args.tiny else args.text_len
    gen = torch.Generator(device="cpu").manual_seed(0)
    latents0 = torch.randn(
        (1, vcfg["z_dim"], shape.latent_frames, shape.latent_height, shape.latent_width), generator=gen
    ).to(args.device, dtype=torch.float32)
    cond = torch.randn((1, text_len, tcfg["text_dim"]), generator=gen).to(args.device, dtype)
    uncond = torch.randn((1, text_len, tcfg["text_dim"]), generator=gen).to(args.device, dtype)
    flops_pass = transformer_flops(tcfg, shape.tokens, text_len)
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    peak = args.peak_tflops or (bf16_peak_tflops(device_name) if args.device.startswith("cuda") else None)
    on_cuda = args.device.startswith("cuda")

    def passes(x: Any, t: Any, cfg: bool) -> Any:
        timestep = torch.full((1, shape.tokens), float(t), device=args.device)
        model_in = x.to(dtype)
        with _cache_context(transformer, "cond"):
            noise = transformer(
                hidden_states=model_in, timestep=timestep, encoder_hidden_states=cond, return_dict=False
            )[0]
        if cfg:
            with _cache_context(transformer, "uncond"):
                noise_u = transformer(
                    hidden_states=model_in, timestep=timestep, encoder_hidden_states=uncond, return_dict=False
                )[0]
            noise = noise_u + args.guidance_scale * (noise - noise_u)
        return noise

    def timed_steps(steps: int, warmup: int, cfg: bool) -> tuple[list[float], Any]:
        scheduler = _scheduler(steps + warmup, args.device)
        x = latents0.clone()
        times: list[float] = []
        for i, t in enumerate(scheduler.timesteps):
            _sync(torch, args.device)
            started = time.perf_counter()
            x = scheduler.step(passes(x, t, cfg), t, x, return_dict=False)[0]
            _sync(torch, args.device)
            if i >= warmup:
                times.append(time.perf_counter() - started)
        return times, x

    def case(name: str, body: Any, needs_s: float) -> dict[str, Any]:
        result = run_case(name, body, needs_s)
        stream.write(result)
        return result

    def run_case(name: str, body: Any, needs_s: float) -> dict[str, Any]:
        if budget.left() < needs_s:
            return {"case": name, "skipped": f"budget: {budget.left():.0f} s left, needs ≈ {needs_s:.0f} s"}
        stream.write({"case": name, "status": "started", "elapsed_s": round(budget.elapsed(), 1)})
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        try:
            result = body()
        except ParallelSkipped as exc:
            return {"case": name, "skipped": str(exc)}
        except Exception as exc:  # noqa: BLE001 - an unavailable backend is a result, not a failure
            return {"case": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        result = {"case": name, **result, "wall_s": round(time.perf_counter() - started, 2)}
        result["peak_gpu_mem_bytes"] = int(torch.cuda.max_memory_allocated()) if on_cuda else None
        return result

    def step_case(cfg: bool = True, warmup: int | None = None) -> dict[str, Any]:
        times, _ = timed_steps(args.steps, args.warmup if warmup is None else warmup, cfg)
        sec = statistics.median(times)
        flops = flops_pass * (2 if cfg else 1)
        achieved = flops / sec / 1e12
        return {
            "sec_per_step": round(sec, 4),
            "sec_per_step_all": [round(v, 4) for v in times],
            "cfg": cfg,
            "achieved_tflops": round(achieved, 2),
            "mfu": None if not peak else round(achieved / peak, 4),
        }

    cases: list[dict[str, Any]] = []
    step_guess = 4.0 if not args.tiny else 1.0  # s per CFG step at 720p on an H100-class GPU
    with torch.inference_mode():
        transformer.set_attention_backend("native")
        baseline = case("eager, native SDPA (baseline)", step_case, (args.steps + args.warmup) * step_guess)
        cases.append(baseline)
        best = ("native", baseline.get("sec_per_step", math.inf))
        for backend in MATRIX_BACKENDS:

            def backend_case(backend: str = backend) -> dict[str, Any]:
                transformer.set_attention_backend(backend)
                return step_case()

            result = case(f"eager, {backend}", backend_case, (args.steps + args.warmup) * step_guess)
            cases.append(result)
            if result.get("sec_per_step", math.inf) < best[1]:
                best = (backend, result["sec_per_step"])
        transformer.set_attention_backend(best[0])

        compiled = False
        if not args.skip_compile:

            def compile_case() -> dict[str, Any]:
                nonlocal compiled
                restore = compile_blocks(transformer)
                started = time.perf_counter()
                try:
                    timed_steps(1, 0, True)  # the compile happens here
                except BaseException:
                    # A compile that fails (no C compiler, a Triton error) must not spoil the
                    # cases after it: they run with the eager blocks.
                    restore()
                    raise
                compiled = True
                first_step_s = time.perf_counter() - started
                return {
                    "backend": best[0],
                    "first_step_with_compile_s": round(first_step_s, 2),
                    **step_case(warmup=1),
                }

            cases.append(case(f"compiled blocks, {best[0]}", compile_case, 180 if not args.tiny else 10))

            def other_size_case() -> dict[str, Any]:
                # A size the warm-up did not compile: what its first job pays once.
                h, w = (480, 832) if not args.tiny else (64, 64)
                other = latent_shape(h, w, args.frames, tcfg, vcfg)
                x = torch.randn(
                    (1, vcfg["z_dim"], other.latent_frames, other.latent_height, other.latent_width),
                    generator=gen,
                ).to(args.device, dtype=torch.float32)
                times = []
                for _ in range(2):
                    timestep = torch.full((1, other.tokens), 500.0, device=args.device)
                    _sync(torch, args.device)
                    started = time.perf_counter()
                    for enc in (cond, uncond):
                        transformer(
                            hidden_states=x.to(dtype),
                            timestep=timestep,
                            encoder_hidden_states=enc,
                            return_dict=False,
                        )
                    _sync(torch, args.device)
                    times.append(time.perf_counter() - started)
                return {
                    "size": f"{w}x{h}x{args.frames}",
                    "first_step_with_recompile_s": round(times[0], 2),
                    "sec_per_step": round(times[1], 4),
                }

            if compiled:
                cases.append(
                    case(
                        "compiled blocks, a size outside the warmed set",
                        other_size_case,
                        120 if not args.tiny else 10,
                    )
                )

        def first_block_case() -> dict[str, Any]:
            from diffusers import FirstBlockCacheConfig

            out: dict[str, Any] = {"backend": best[0], "compiled": compiled}
            # Random weights do not decide skips as real ones do: force each kind of pass instead.
            for kind, threshold in (("computed", 1e-12), ("skipped", 1e12)):
                transformer.enable_cache(FirstBlockCacheConfig(threshold=threshold))
                try:
                    times, _ = timed_steps(args.steps, 1, True)
                finally:
                    transformer.disable_cache()
                out[f"sec_per_step_{kind}"] = round(statistics.median(times), 4)
            out["skipped_over_computed"] = round(
                out["sec_per_step_skipped"] / out["sec_per_step_computed"], 4
            )
            return out

        cases.append(
            case(
                "first-block cache: a computed vs a skipped step",
                first_block_case,
                2 * (args.steps + 1) * step_guess,
            )
        )

        def end_to_end(steps: int, cfg: bool) -> dict[str, Any]:
            _sync(torch, args.device)
            started = time.perf_counter()
            scheduler = _scheduler(steps, args.device)
            x = latents0.clone()
            for t in scheduler.timesteps:
                x = scheduler.step(passes(x, t, cfg), t, x, return_dict=False)[0]
            _sync(torch, args.device)
            denoise_s = time.perf_counter() - started
            decode_s = None
            if vae is not None:
                video = vae.decode(x.to(vae.dtype), return_dict=False)[0]
                _sync(torch, args.device)
                decode_s = time.perf_counter() - started - denoise_s
                assert video.shape[2] == shape.frames, video.shape
            return {
                "backend": best[0],
                "compiled": compiled,
                "steps": steps,
                "cfg": cfg,
                "denoise_s": round(denoise_s, 2),
                "vae_decode_s": None if decode_s is None else round(decode_s, 2),
                "total_s": round(time.perf_counter() - started, 2),
            }

        short = case("end to end: 3 steps, no CFG", lambda: end_to_end(3, False), 3 * step_guess / 2 + 30)
        cases.append(short)
        long = args.e2e_steps
        measured = min(args.e2e_measure_steps, long)

        def long_run() -> dict[str, Any]:
            """A few CFG steps timed, the rest extrapolated: 50 steps would not fit the budget
            after a compile, and a step costs the same at step 3 as at step 50 (fixed shapes)."""
            run = end_to_end(measured, True)
            per_step = run["denoise_s"] / measured
            decode = run["vae_decode_s"]
            denoise = per_step * long
            return {
                **run,
                "steps": long,
                "measured_steps": measured,
                "extrapolated": measured < long,
                "sec_per_step": round(per_step, 4),
                "denoise_s": round(denoise, 2),
                "total_s": round(denoise + (decode or 0.0), 2),
            }

        cases.append(case(f"end to end: {long} steps, CFG", long_run, measured * step_guess + 30))

        if args.parallel != "off":
            # Last: it starts processes of its own, and the budget decides whether it fits.
            cases.append(
                case(
                    f"{args.parallel} across {'GPUs' if on_cuda else 'gloo ranks'}",
                    lambda: parallel_case(args, transformer, timed_steps, latents0, cond, uncond, baseline),
                    90 + (args.steps + args.warmup) * step_guess,
                )
            )

        if vae is not None:
            cases.append(
                case("decode → MP4: whole vs streamed", lambda: decode_stream_case(args, vae, latents0), 120)
            )
        # Last: it quantises the transformer in place. Where FP8 cannot run, the worker's refusal.
        refusal = fp8_refusal(args.device)
        if refusal is not None:
            cases.append({"case": FP8_CASE, "skipped": refusal})
            stream.write(cases[-1])
        else:
            cases.append(
                case(
                    FP8_CASE,
                    lambda: fp8_case(args, transformer, vae, timed_steps, baseline),
                    2 * (args.steps + args.warmup) * step_guess + 60,
                )
            )

    return {
        "model": "Wan2.2-TI2V-5B (random weights)" if not args.tiny else "wan-tiny (random weights)",
        "device": device_name,
        "torch": torch.__version__,
        "diffusers": __import__("diffusers").__version__,
        "cuda": torch.version.cuda if on_cuda else None,
        "dtype": args.dtype,
        "vae_dtype": args.vae_dtype,
        "shape": asdict(shape),
        "tflop_per_pass": round(flops_pass / 1e12, 3),
        "peak_bf16_tflops": peak,
        "build_s": round(build_s, 1),
        "budget_s": args.budget_s,
        "elapsed_s": round(budget.elapsed(), 1),
        "fastest_backend": best[0],
        "cases": cases,
    }


def _worker_imports() -> None:
    if str(WORKER_SRC) not in sys.path:
        sys.path.insert(0, str(WORKER_SRC))


def decode_stream_case(args: argparse.Namespace, vae: Any, latents: Any) -> dict[str, Any]:
    """The worker's path after the last step, whole vs streamed (docs/adr/0085), at full size:
    seconds to the MP4 on disk and peak GPU memory of each, and the streamed decode alone."""
    import tempfile
    from types import SimpleNamespace

    import torch
    from diffusers.video_processor import VideoProcessor

    _worker_imports()
    from t2v_worker.engines.vae_stream import DecodedVideo
    from t2v_worker.output import find_ffmpeg, to_uint8_frames, write_outputs

    ffmpeg = find_ffmpeg(os.environ.get("T2V_FFMPEG") or None)
    on_cuda = args.device.startswith("cuda")
    pipe = SimpleNamespace(
        vae=vae,
        vae_scale_factor_spatial=vae.config.scale_factor_spatial,
        vae_scale_factor_temporal=vae.config.scale_factor_temporal,
        maybe_free_model_hooks=lambda: None,
    )
    out: dict[str, Any] = {}

    def measured(name: str, body: Any) -> None:
        if on_cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        _sync(torch, args.device)
        started = time.perf_counter()
        body()
        _sync(torch, args.device)
        out[f"{name}_s"] = round(time.perf_counter() - started, 2)
        out[f"{name}_peak_gpu_mem_bytes"] = int(torch.cuda.max_memory_allocated()) if on_cuda else None

    with tempfile.TemporaryDirectory() as tmp:
        mp4, jpg = os.path.join(tmp, "v.mp4"), os.path.join(tmp, "v.jpg")

        def whole() -> None:
            z = DecodedVideo(pipe, latents.clone(), tiled=bool(vae.use_tiling))._denormalised(latents)
            frames = VideoProcessor(vae_scale_factor=16).postprocess_video(
                vae.decode(z, return_dict=False)[0], output_type="np"
            )[0]
            write_outputs(to_uint8_frames(frames), 24, mp4, jpg, ffmpeg)

        def streamed() -> None:
            write_outputs(
                DecodedVideo(pipe, latents.clone(), tiled=bool(vae.use_tiling)), 24, mp4, jpg, ffmpeg
            )

        def decode_alone() -> None:
            for chunk in DecodedVideo(pipe, latents.clone(), tiled=bool(vae.use_tiling)).chunks():
                del chunk

        measured("whole", whole)
        measured("streamed", streamed)
        measured("decode_alone", decode_alone)
    out["streamed_over_decode_alone"] = round(out["streamed_s"] / out["decode_alone_s"], 3)
    if on_cuda:
        out["streamed_over_whole_peak_mem"] = round(
            out["streamed_peak_gpu_mem_bytes"] / out["whole_peak_gpu_mem_bytes"], 3
        )
    return out


FP8_CASE = "fp8 weights (torchao) vs bf16"


def fp8_refusal(device: str) -> str | None:
    """The worker's own start-up check (``engines/fp8.py``): its message where FP8 cannot run."""
    import torch

    _worker_imports()
    from t2v_worker.engines.fp8 import check_fp8
    from t2v_worker.errors import ModelLoadFailed

    try:
        check_fp8(device, torch)
    except ModelLoadFailed as exc:
        return str(exc)
    return None


def fp8_case(
    args: argparse.Namespace, transformer: Any, vae: Any, timed_steps: Any, baseline: dict[str, Any]
) -> dict[str, Any]:
    """``T2V_TRANSFORMER_WEIGHTS=fp8`` (docs/adr/0087): the worker's own check and quantisation,
    then seconds per CFG step against the bf16 baseline, and how far 3 steps without CFG (and their
    decoded frames) move from the same steps in bf16. Refused with the worker's message where FP8
    cannot run (a CPU, a GPU below compute capability 8.9, no torchao)."""
    import torch

    _worker_imports()
    from t2v_worker.engines.fp8 import quantize_transformer

    _, reference = timed_steps(3, 0, False)
    quantize_transformer(transformer)
    times, _ = timed_steps(args.steps, args.warmup, True)
    _, quantised = timed_steps(3, 0, False)
    sec = statistics.median(times)
    out: dict[str, Any] = {
        "sec_per_step": round(sec, 4),
        "vs_bf16_baseline": None
        if not baseline.get("sec_per_step")
        else round(baseline["sec_per_step"] / sec, 3),
        "latent_rel_diff": round(float((quantised - reference).norm() / reference.norm()), 4),
    }
    if vae is not None:
        frames = [
            (vae.decode(x.to(vae.dtype), return_dict=False)[0] / 2 + 0.5).clamp(0, 1)
            for x in (reference, quantised)
        ]
        diff = (frames[0] - frames[1]).abs()
        out["frame_mean_abs_diff"] = round(float(diff.mean()), 4)
        out["frame_psnr_db"] = round(float(10 * torch.log10(1 / (diff**2).mean())), 2)
    return out


def parallel_case(
    args: argparse.Namespace,
    transformer: Any,
    timed_steps: Any,
    latents0: Any,
    cond: Any,
    uncond: Any,
    baseline: dict[str, Any],
) -> dict[str, Any]:
    """One CFG denoising loop on a worker group (``T2V_PARALLEL``), the worker's own code.

    Each rank builds the same random transformer (same seed), joins the group as a worker group
    does (``t2v_worker.parallel.runtime``) and runs ``--steps`` CFG steps after ``--warmup``; rank 0
    times them. On CUDA it needs as many GPUs as the group has ranks and is skipped otherwise; with
    ``--tiny`` on a CPU it runs over gloo (the CI smoke run). The final latents are compared with
    this process's own run of the same steps.
    """
    import torch

    from t2v_worker.parallel.spec import parse_parallel

    spec = parse_parallel(args.parallel)
    on_cuda = args.device.startswith("cuda")
    if on_cuda and torch.cuda.device_count() < spec.size:
        raise ParallelSkipped(f"needs {spec.size} GPUs, {torch.cuda.device_count()} visible")
    transformer.set_attention_backend("native")
    _, reference = timed_steps(args.steps, args.warmup, True)
    reference = reference.float().cpu()
    ctx = torch.multiprocessing.get_context("spawn")
    results = ctx.Queue()
    store = torch.distributed.TCPStore("127.0.0.1", 0, spec.size, is_master=True, wait_for_workers=False)
    payload = {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, type(None)))}
    tensors = tuple(t.float().cpu().numpy() for t in (latents0, cond, uncond))
    procs = []
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        for rank in range(spec.size):
            if on_cuda:
                from t2v_worker.parallel.group import rank_devices

                visible = saved or ",".join(str(i) for i in range(torch.cuda.device_count()))
                os.environ["CUDA_VISIBLE_DEVICES"] = (
                    rank_devices(",".join(visible.split(",")[: spec.size]), rank) or ""
                )
            proc = ctx.Process(target=_parallel_rank, args=(rank, store.port, payload, tensors, results))
            proc.start()
            procs.append(proc)
    finally:
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved
    try:
        outcome = results.get(timeout=600)
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    if "error" in outcome:
        raise RuntimeError(outcome["error"])
    times, final = outcome["times"], torch.from_numpy(outcome["latents"])
    sec = statistics.median(times)
    base = baseline.get("sec_per_step")
    return {
        "parallel": str(spec),
        "ranks": spec.size,
        "backend": "native",
        "sec_per_step": round(sec, 4),
        "sec_per_step_all": [round(v, 4) for v in times],
        "speedup_vs_baseline": None if not base else round(base / sec, 2),
        "max_abs_diff_vs_one_device": float((final - reference).abs().max()),
        "latent_abs_max": float(reference.abs().max()),
    }


class ParallelSkipped(Exception):
    """Not enough devices for the group: reported as a skipped case."""


def _parallel_rank(
    rank: int, port: int, payload: dict[str, Any], tensors: tuple[Any, ...], results: Any
) -> None:
    """One rank of ``parallel_case`` (a spawned process)."""
    import torch

    if str(WORKER_SRC) not in sys.path:
        sys.path.insert(0, str(WORKER_SRC))
    from t2v_worker.parallel.runtime import CfgSplit, Mesh, enable_ulysses, init_process_group
    from t2v_worker.parallel.spec import parse_parallel

    args = argparse.Namespace(**payload)
    spec = parse_parallel(args.parallel)
    worker_device = "cuda" if args.device.startswith("cuda") else "cpu"
    try:
        init_process_group(rank, spec.size, port, worker_device, 300.0)
        mesh = Mesh(spec, rank, worker_device)
        device = "cuda:0" if worker_device == "cuda" else "cpu"
        args.device = device
        args.compile = False
        args.attention_backend = "native"
        args.skip_vae = True
        transformer, _, _, _ = build_models(args, torch)
        if spec.ulysses > 1:
            enable_ulysses(transformer, mesh, worker_device)
        if spec.cfg:
            split = CfgSplit(transformer, mesh)
            split.begin_job(args.guidance_scale)
        dtype = getattr(torch, args.dtype)
        latents0, cond, uncond = (torch.from_numpy(t).to(device) for t in tensors)
        cond, uncond = cond.to(dtype), uncond.to(dtype)
        tokens = latents0.shape[2] * (latents0.shape[3] // 2) * (latents0.shape[4] // 2)
        scheduler = _scheduler(args.steps + args.warmup, device)
        x = latents0.clone()
        times: list[float] = []
        with torch.inference_mode():
            for i, t in enumerate(scheduler.timesteps):
                torch.distributed.barrier()
                _sync(torch, device)
                started = time.perf_counter()
                timestep = torch.full((1, tokens), float(t), device=device)
                model_in = x.to(dtype)
                noise = transformer(
                    hidden_states=model_in, timestep=timestep, encoder_hidden_states=cond, return_dict=False
                )[0]
                noise_u = transformer(
                    hidden_states=model_in, timestep=timestep, encoder_hidden_states=uncond, return_dict=False
                )[0]
                noise = noise_u + args.guidance_scale * (noise - noise_u)
                x = scheduler.step(noise, t, x, return_dict=False)[0]
                _sync(torch, device)
                if i >= args.warmup:
                    times.append(time.perf_counter() - started)
        if rank == 0:
            # A numpy copy: a shared torch tensor would vanish with this process.
            results.put({"times": times, "latents": x.float().cpu().numpy()})
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    except Exception as exc:  # noqa: BLE001 - reported by rank 0's parent as the case's error
        results.put({"error": f"rank {rank}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"})


def _scheduler(steps: int, device: str) -> Any:
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=TI2V_5B_FLOW_SHIFT
    )
    scheduler.set_timesteps(steps, device=device)
    return scheduler


def _cache_context(transformer: Any, name: str) -> Any:
    """diffusers' cache hooks keep one state per branch (cond / uncond), as WanPipeline names them."""
    return (
        transformer.cache_context(name) if hasattr(transformer, "cache_context") else contextlib.nullcontext()
    )


def _fmt(v: Any, unit: str = "") -> str:
    return "–" if v is None else f"{v}{unit}"


def matrix_markdown(result: dict[str, Any], command: str) -> str:
    """The GPU section of docs/benchmarks.md, from one matrix result."""
    shape = result["shape"]
    lines = [
        "## GPU",
        "",
        f"`{command}` on {result['device']} (torch {result['torch']}, diffusers {result['diffusers']}, "
        f"CUDA {_fmt(result['cuda'])}); {result['model']}, {shape['width']}×{shape['height']}×{shape['frames']} "
        f"({shape['tokens']} tokens), {result['dtype']} transformer, {result['vae_dtype']} VAE; "
        f"{result['tflop_per_pass']} TFLOP per transformer pass; the whole matrix took {result['elapsed_s']} s.",
        "",
        "| case | s/step | MFU | peak GiB | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    baseline = next((c.get("sec_per_step") for c in result["cases"] if "baseline" in c["case"]), None)
    for c in result["cases"]:
        mem = c.get("peak_gpu_mem_bytes")
        mem_text = "–" if not mem else f"{mem / 2**30:.1f}"
        if "skipped" in c or "error" in c:
            lines.append(f"| {c['case']} | – | – | – | {c.get('skipped') or c.get('error')} |")
            continue
        sec = c.get("sec_per_step")
        notes = []
        if sec and baseline:
            notes.append(f"{baseline / sec:.2f}× the baseline")
        if "first_step_with_compile_s" in c:
            notes.append(f"first step with compile {c['first_step_with_compile_s']} s")
        if "first_step_with_recompile_s" in c:
            notes.append(f"{c['size']}: first step with recompile {c['first_step_with_recompile_s']} s")
            sec = None  # another size: not comparable with the baseline
        if "sec_per_step_computed" in c:
            sec = c["sec_per_step_computed"]
            notes.append(
                f"skipped step {c['sec_per_step_skipped']} s = {c['skipped_over_computed']}× a computed one"
            )
        if "speedup_vs_baseline" in c:
            notes.append(
                f"{c['ranks']} ranks (`T2V_PARALLEL={c['parallel']}`); final latents differ from one "
                f"device's by ≤ {c['max_abs_diff_vs_one_device']:.3g} (max |latent| {c['latent_abs_max']:.3g})"
            )
        if "streamed_over_decode_alone" in c:
            mem = c.get("streamed_over_whole_peak_mem")
            notes.append(
                f"whole {c['whole_s']} s, streamed {c['streamed_s']} s = {c['streamed_over_decode_alone']}× "
                f"the decode alone ({c['decode_alone_s']} s)"
                + ("" if mem is None else f"; peak memory streamed / whole {mem}×")
            )
        if "latent_rel_diff" in c:
            notes.append(
                f"{_fmt(c['vs_bf16_baseline'])}× the bf16 baseline; 3 steps: latents differ by "
                f"{c['latent_rel_diff']} (relative), frames by {_fmt(c.get('frame_mean_abs_diff'))} "
                f"mean, PSNR {_fmt(c.get('frame_psnr_db'))} dB"
            )
        if "total_s" in c:
            estimate = (
                f", extrapolated from {c['measured_steps']} timed steps" if c.get("extrapolated") else ""
            )
            notes.append(
                f"**{c['total_s']} s end to end** (denoise {c['denoise_s']} s{estimate}, "
                f"VAE decode {_fmt(c['vae_decode_s'])} s)"
            )
        mfu = c.get("mfu")
        lines.append(
            f"| {c['case']} | {_fmt(sec)} | {'–' if mfu is None else f'{100 * mfu:.1f}%'} | {mem_text} | {'; '.join(notes)} |"
        )
    lines += [
        "",
        "Random weights: speed does not depend on weight values, but they do not decide cache skips as a",
        "trained model does, so the cache row gives the cost of each kind of step, not a skip rate. End to",
        "end is denoising plus VAE decode with the fastest configuration; the text encoder (one UMT5 pass)",
        "and the H.264 encode are not included.",
    ]
    return "\n".join(lines) + "\n"


def write_gpu_section(doc_path: str, section: str) -> None:
    """Replaces the text between the GPU markers of ``doc_path`` (npm run bench keeps it)."""
    replace_section(doc_path, GPU_SECTION_START, GPU_SECTION_END, section)


def replace_section(doc_path: str, start_marker: str, end_marker: str, section: str) -> None:
    """Replaces the text between two markers of a markdown file."""
    text = Path(doc_path).read_text(encoding="utf-8")
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise SystemExit(f"{doc_path} has no {start_marker} … {end_marker} section")
    new = text[: start + len(start_marker)] + "\n" + section + text[end:]
    Path(doc_path).write_text(new, encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny configs (CPU smoke test)")
    p.add_argument("--device", default=None, help="cuda (default) or cpu (default with --tiny)")
    p.add_argument("--height", type=int, default=None, help="default 704 (128 with --tiny)")
    p.add_argument("--width", type=int, default=None, help="default 1280 (128 with --tiny)")
    p.add_argument("--frames", type=int, default=None, help="4k+1; default 121 (17 with --tiny)")
    p.add_argument("--steps", type=int, default=3, help="timed denoising steps")
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed steps first (more with --compile)",
    )
    p.add_argument("--guidance-scale", type=float, default=5.0)
    p.add_argument("--text-len", type=int, default=TEXT_LEN)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--vae-dtype", default="float32", choices=["bfloat16", "float16", "float32"])
    p.add_argument(
        "--attention-backend",
        default=None,
        help="diffusers backend: native, flash, _native_cudnn, sage…",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer")
    p.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--skip-vae", action="store_true")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="override the bf16 peak used for MFU",
    )
    p.add_argument("--json", default=None, help="also write the result to this file")
    p.add_argument(
        "--matrix",
        action="store_true",
        help="every configuration in one run: backends, compiled blocks, step cache, end to end",
    )
    p.add_argument(
        "--budget-s", type=float, default=450.0, help="matrix: skip cases that would end after this"
    )
    p.add_argument("--skip-compile", action="store_true", help="matrix: leave out compiled blocks")
    p.add_argument(
        "--parallel",
        default="cfg",
        help="matrix: T2V_PARALLEL form of the last case (off to leave it out); skipped with too few GPUs",
    )
    p.add_argument("--e2e-steps", type=int, default=50, help="matrix: steps of the long end-to-end run")
    p.add_argument(
        "--e2e-measure-steps",
        type=int,
        default=3,
        help="matrix: CFG steps the long run times; the rest of --e2e-steps is extrapolated from them",
    )
    p.add_argument(
        "--stream", default=None, help="matrix: append each case's result to this JSONL file at once"
    )
    p.add_argument("--write-docs", default=None, help="matrix: replace the GPU section of this markdown file")
    p.add_argument(
        "--from-json",
        default=None,
        help="with --write-docs: write the GPU section from a matrix JSON (a device run's matrix.json), run nothing",
    )
    args = p.parse_args(argv)
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    args.height = args.height or (128 if args.tiny else 704)
    args.width = args.width or (128 if args.tiny else 1280)
    args.frames = args.frames or (17 if args.tiny else 121)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        if not args.write_docs:
            raise SystemExit("--from-json needs --write-docs")
        result = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        command = f"bash tools/bench/gpu/device-run.sh (matrix from {Path(args.from_json).name})"
        write_gpu_section(args.write_docs, matrix_markdown(result, command))
        return 0
    if args.matrix:
        return main_matrix(args, argv if argv is not None else sys.argv[1:])
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    mem = result["peak_gpu_mem_bytes"]
    mem_text = "-" if mem is None else f"{mem / 2**30:.1f} GiB"
    mfu_text = "-" if result["mfu"] is None else f"{100 * result['mfu']:.1f}%"
    print(
        f"{result['device']}: {result['sec_per_step_cfg']:.3f} s/step (CFG), "
        f"VAE decode {result['vae_decode_s']} s, {mem_text} peak, MFU {mfu_text}",
        file=sys.stderr,
    )
    return 0 if math.isfinite(result["sec_per_step_cfg"]) else 1


def main_matrix(args: argparse.Namespace, argv: list[str]) -> int:
    with contextlib.redirect_stdout(sys.stderr):
        result = run_matrix(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    if args.write_docs:
        command = " ".join(["python tools/bench/gpu/bench.py", *argv])
        write_gpu_section(args.write_docs, matrix_markdown(result, command))
    for c in result["cases"]:
        detail = (
            c.get("skipped")
            or c.get("error")
            or c.get("sec_per_step")
            or c.get("total_s")
            or (
                f"streamed {c['streamed_s']} s, decode alone {c['decode_alone_s']} s"
                if "streamed_s" in c
                else None
            )
            or f"computed {c.get('sec_per_step_computed')} s, skipped {c.get('sec_per_step_skipped')} s"
        )
        print(f"{c['case']}: {detail}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
