"""How the Wan transformer runs fast: step cache, compiled blocks, attention backend, pass count.

- Step cache (``T2V_CACHE=first-block:<threshold>``): diffusers' First Block Cache hooks. After
  the first transformer block, a pass whose residual barely changed since the last computed pass
  reuses the cached output of the other blocks. The hooks are installed fresh for every job, so
  nothing one job cached can leak into the next; a job with ``"acceleration": "none"`` runs with
  no hooks at all.
- Compiled blocks (``T2V_COMPILE=blocks``): each block's own forward is compiled with static
  shapes; all 30 share the graph of a token count. The warm-up compiles the preset token counts.
- Attention: on a GPU with no backend configured, the first of ``GPU_ATTENTION_ORDER`` that loads
  and whose output at the largest preset's token count matches PyTorch's SDPA is used, and logged.
- Passes: the last block's own forward counts the passes actually computed (a pass served from
  the step cache never reaches it), against the planned ``steps × (2 with CFG, else 1)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import CacheSpec, WorkerConfig
from ..device import require_compiler
from ..errors import ModelLoadFailed

log = logging.getLogger(__name__)

# Fastest first: FlashAttention 3 (Hopper), FlashAttention 2, cuDNN SDPA, PyTorch SDPA.
GPU_ATTENTION_ORDER = ("_flash_3", "flash", "_native_cudnn", "native")
# What each candidate is compared with: PyTorch's SDPA, which every CUDA build of torch has.
REFERENCE_BACKEND = "native"
# ‖candidate − reference‖ / ‖reference‖ over one attention of the first block. Two correct
# bfloat16 kernels differ by their accumulation order, around 1e-3..1e-2; a wrong one (a missing
# scale, a swapped layout, garbage) by 0.1 or more.
PROBE_TOLERANCE = 2e-2
# Sequence length of the probe when the engine has no preset sizes.
DEFAULT_PROBE_TOKENS = 4096


def planned_passes(steps: int, guidance_scale: float) -> int:
    """diffusers' WanPipeline runs the unconditional pass only when guidance_scale > 1."""
    return steps * (2 if guidance_scale > 1.0 else 1)


class PassCounter:
    """Counts calls of one block's own forward. Installed under any cache hook and before compile."""

    def __init__(self, block: Any) -> None:
        self.count = 0
        original: Callable[..., Any] = block.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        block.forward = forward


class Accelerator:
    """Applies the configured acceleration to one loaded pipeline and accounts for each job."""

    def __init__(self, config: WorkerConfig) -> None:
        self.cache: CacheSpec = config.cache
        self.compile = config.compile
        self.attention: str | None = config.attention_backend
        self._config = config
        self._transformer: Any = None
        self._counter: PassCounter | None = None
        self._job_cache = "off"
        self.probe_tokens = DEFAULT_PROBE_TOKENS
        # Set by a Ulysses worker group: installs the job's cache hooks (given as a function)
        # in the place its context parallelism needs (parallel/runtime.py).
        self.install_cache: Callable[[Any, Callable[[], None]], None] | None = None

    # ---- load --------------------------------------------------------------------------------

    def setup(self, pipe: Any, device: str, probe_tokens: int | None = None) -> None:
        transformer = pipe.transformer
        self._transformer = transformer
        self.probe_tokens = probe_tokens or DEFAULT_PROBE_TOKENS
        self.attention = self._pick_attention(transformer, device)
        if self.compile == "blocks":
            compiler = require_compiler(device)
            log.info("compiled blocks: kernels are built with %s", compiler)
            compile_blocks(transformer)
        # Outside the compiled code and under the cache hooks: counts what really ran.
        self._counter = PassCounter(transformer.blocks[-1])

    def _pick_attention(self, transformer: Any, device: str) -> str | None:
        configured = self._config.attention_backend
        if configured and configured != "auto":
            try:
                transformer.set_attention_backend(configured)
            except Exception as exc:  # noqa: BLE001
                raise ModelLoadFailed(f"T2V_ATTENTION_BACKEND={configured}: {exc}", permanent=True) from exc
            log.info("attention backend: %s (configured)", configured)
            return configured
        if not device.startswith("cuda"):
            return "native"
        # With CPU offload the weights are not on the GPU yet: a probe would run on the CPU, where
        # no GPU backend runs. Then the first backend diffusers accepts is taken.
        on_gpu = next(transformer.parameters()).device.type == "cuda"
        return pick_attention_backend(transformer, GPU_ATTENTION_ORDER, self.probe_tokens if on_gpu else None)

    # ---- per job -----------------------------------------------------------------------------

    @property
    def passes(self) -> int:
        """Transformer passes this process computed in the current job (set once loaded)."""
        assert self._counter is not None, "the accelerator is set up at load"
        return self._counter.count

    @passes.setter
    def passes(self, value: int) -> None:
        assert self._counter is not None, "the accelerator is set up at load"
        self._counter.count = value

    def begin_job(self, acceleration: str) -> None:
        """Fresh cache hooks for an ``auto`` job (no state from the last one), none for ``none``."""
        transformer = self._transformer
        if self._counter is not None:
            self._counter.count = 0
        if getattr(transformer, "is_cache_enabled", False):
            transformer.disable_cache()
        self._job_cache = "off"
        if acceleration == "auto" and self.cache.kind == "first-block":
            from diffusers import FirstBlockCacheConfig

            config = FirstBlockCacheConfig(threshold=self.cache.threshold)
            if self.install_cache is not None:
                self.install_cache(transformer, lambda: transformer.enable_cache(config))
            else:
                transformer.enable_cache(config)
            self._job_cache = str(self.cache)

    def report(self, steps: int, guidance_scale: float) -> dict[str, Any]:
        return {
            "cache": self._job_cache,
            "compile": self.compile,
            "attention": self.attention,
            "passes": None if self._counter is None else self._counter.count,
            "planned_passes": planned_passes(steps, guidance_scale),
        }


def compile_blocks(transformer: Any) -> Callable[[], None]:
    """Compiles each block's own forward; the blocks share one class, so they share the graph.

    This is regional compilation as diffusers' ``compile_repeated_blocks`` does it, one level
    lower: the compiled function sits under the step-cache hooks and the pass counter instead of
    around them. The hooks' Python (First Block Cache decides on a tensor value) stays eager, the
    block stays one graph (``fullgraph``), and installing fresh hooks for each job recompiles
    nothing.

    Shapes are static (``dynamic=False``): each token count gets a graph of its own, specialised
    to it, instead of dynamo switching to one symbolic-shape graph at the second size it sees
    (slower kernels for every size). The warm-up compiles the presets' token counts.

    Returns a function that puts the eager forwards back (a compile that fails leaves the
    transformer usable).
    """
    import torch

    eager = [block.forward for block in transformer.blocks]
    for block in transformer.blocks:
        block.forward = torch.compile(block.forward, fullgraph=True, dynamic=False)
    log.info("compiling the transformer block (%d blocks share it)", len(transformer.blocks))

    def restore() -> None:
        for block, forward in zip(transformer.blocks, eager, strict=True):
            block.forward = forward

    return restore


def probe_input(transformer: Any, tokens: int, seed: int = 0) -> Any:
    """A seeded random input of the first block's self-attention: (1, tokens, heads × head dim)."""
    import torch

    config = transformer.config
    width = config.num_attention_heads * config.attention_head_dim
    param = next(transformer.parameters())
    generator = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(1, tokens, width, generator=generator, dtype=torch.float32)
    return x.to(device=param.device, dtype=param.dtype)


def run_attention(transformer: Any, x: Any) -> tuple[Any, float]:
    """One self-attention of the first block with the backend set now; (output, seconds)."""
    import time

    import torch

    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    with torch.inference_mode():
        out = transformer.blocks[0].attn1(x)
    sync()
    return out, time.perf_counter() - started


def compare_outputs(out: Any, reference: Any) -> dict[str, float]:
    """Relative error (‖Δ‖/‖ref‖) and largest absolute difference, in float32."""
    a, b = out.float(), reference.float()
    if not bool(a.isfinite().all()):
        return {"rel_error": float("inf"), "max_abs": float("inf")}
    diff = a - b
    return {
        "rel_error": float(diff.norm() / b.norm().clamp_min(1e-30)),
        "max_abs": float(diff.abs().max()),
    }


def pick_attention_backend(
    transformer: Any,
    order: tuple[str, ...],
    probe_tokens: int | None = None,
    details: list[dict[str, Any]] | None = None,
) -> str:
    """The first backend of ``order`` that the transformer accepts and, with ``probe_tokens``,
    whose output at that sequence length matches the reference backend's.

    diffusers refuses a backend whose package is missing; a backend can also load and then fail on
    this GPU (an unsupported head size, an old architecture) or compute something else at a long
    sequence (a kernel bug that a short one hides), which the probe catches. Both the reference's
    and each candidate's figures are logged (and appended to ``details`` when given).
    """
    record = details.append if details is not None else (lambda _entry: None)
    failures: list[str] = []
    reference = None
    x = None
    if probe_tokens:
        x = probe_input(transformer, probe_tokens)
        transformer.set_attention_backend(REFERENCE_BACKEND)
        reference, ref_s = run_attention(transformer, x)  # untimed: first call
        reference, ref_s = run_attention(transformer, x)
        record(
            {
                "backend": REFERENCE_BACKEND,
                "reference": True,
                "tokens": probe_tokens,
                "ms": round(ref_s * 1e3, 2),
            }
        )
        log.info(
            "attention probe: %s at %d tokens (reference): %.1f ms",
            REFERENCE_BACKEND,
            probe_tokens,
            ref_s * 1e3,
        )
    for name in order:
        try:
            transformer.set_attention_backend(name)
            if x is not None:
                run_attention(transformer, x)
                out, seconds = run_attention(transformer, x)
                check = compare_outputs(out, reference)
                record({"backend": name, "tokens": probe_tokens, "ms": round(seconds * 1e3, 2), **check})
                log.info(
                    "attention probe: %s at %d tokens: %.1f ms, relative error %.2e (max |diff| %.3g) vs %s",
                    name,
                    probe_tokens,
                    seconds * 1e3,
                    check["rel_error"],
                    check["max_abs"],
                    REFERENCE_BACKEND,
                )
                if not check["rel_error"] <= PROBE_TOLERANCE:
                    raise RuntimeError(
                        f"output differs from {REFERENCE_BACKEND} at {probe_tokens} tokens "
                        f"(relative error {check['rel_error']:.3g} > {PROBE_TOLERANCE})"
                    )
        except Exception as exc:  # noqa: BLE001 - any failure means: try the next one
            failures.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            record({"backend": name, "refused": failures[-1].split(": ", 1)[1]})
            continue
        if failures:
            log.info("attention backend: %s (skipped %s)", name, "; ".join(failures))
        else:
            log.info("attention backend: %s", name)
        return name
    raise ModelLoadFailed("no attention backend loads: " + "; ".join(failures))
