"""How the Wan transformer runs fast: step cache, compiled blocks, attention backend, pass count.

- Step cache (``T2V_CACHE=first-block:<threshold>``): diffusers' First Block Cache hooks. After
  the first transformer block, a pass whose residual barely changed since the last computed pass
  reuses the cached output of the other blocks. The hooks are installed fresh for every job, so
  nothing one job cached can leak into the next; a job with ``"acceleration": "none"`` runs with
  no hooks at all.
- Compiled blocks (``T2V_COMPILE=blocks``): ``compile_repeated_blocks`` compiles the repeated
  block once; all 30 reuse it. The worker's warm-up compiles for the preset sizes.
- Attention: on a GPU with no backend configured, the first of ``GPU_ATTENTION_ORDER`` that loads
  and runs is used, and logged.
- Passes: the last block's own forward counts the passes actually computed (a pass served from
  the step cache never reaches it), against the planned ``steps × (2 with CFG, else 1)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import CacheSpec, WorkerConfig
from ..errors import ModelLoadFailed

log = logging.getLogger(__name__)

# Fastest first: FlashAttention 3 (Hopper), FlashAttention 2, cuDNN SDPA, PyTorch SDPA.
GPU_ATTENTION_ORDER = ("_flash_3", "flash", "_native_cudnn", "native")


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

    # ---- load --------------------------------------------------------------------------------

    def setup(self, pipe: Any, device: str) -> None:
        transformer = pipe.transformer
        self._transformer = transformer
        self.attention = self._pick_attention(transformer, device)
        if self.compile == "blocks":
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
        probe = (lambda: probe_attention(transformer)) if on_gpu else None
        return pick_attention_backend(transformer, GPU_ATTENTION_ORDER, probe)

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

            transformer.enable_cache(FirstBlockCacheConfig(threshold=self.cache.threshold))
            self._job_cache = str(self.cache)

    def report(self, steps: int, guidance_scale: float) -> dict[str, Any]:
        return {
            "cache": self._job_cache,
            "compile": self.compile,
            "attention": self.attention,
            "passes": None if self._counter is None else self._counter.count,
            "planned_passes": planned_passes(steps, guidance_scale),
        }


def compile_blocks(transformer: Any) -> None:
    """Compiles each block's own forward; the blocks share one class, so they share the graph.

    This is regional compilation as diffusers' ``compile_repeated_blocks`` does it, one level
    lower: the compiled function sits under the step-cache hooks and the pass counter instead of
    around them. The hooks' Python (First Block Cache decides on a tensor value) stays eager, the
    block stays one graph (``fullgraph``), and installing fresh hooks for each job recompiles
    nothing.
    """
    import torch

    for block in transformer.blocks:
        block.forward = torch.compile(block.forward, fullgraph=True)
    log.info("compiling the transformer block (%d blocks share it)", len(transformer.blocks))


def probe_attention(transformer: Any, tokens: int = 256) -> None:
    """One self-attention of the first block on a small input, with the backend just set."""
    import torch

    config = transformer.config
    width = config.num_attention_heads * config.attention_head_dim
    param = next(transformer.parameters())
    x = torch.randn(1, tokens, width, device=param.device, dtype=param.dtype)
    with torch.inference_mode():
        out = transformer.blocks[0].attn1(x)
    if not torch.isfinite(out).all():
        raise RuntimeError("non-finite output")


def pick_attention_backend(
    transformer: Any, order: tuple[str, ...], probe: Callable[[], None] | None = None
) -> str:
    """The first backend of ``order`` that the transformer accepts and that runs ``probe``.

    diffusers refuses a backend whose package is missing; a backend can also load and then fail on
    this GPU (an unsupported head size, an old architecture), which the probe catches.
    """
    failures: list[str] = []
    for name in order:
        try:
            transformer.set_attention_backend(name)
            if probe is not None:
                probe()
        except Exception as exc:  # noqa: BLE001 - any failure means: try the next one
            failures.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        if failures:
            log.info("attention backend: %s (skipped %s)", name, "; ".join(failures))
        else:
            log.info("attention backend: %s", name)
        return name
    raise ModelLoadFailed("no attention backend loads: " + "; ".join(failures))
