"""The attention backend a GPU worker picks when none is configured: the first that loads and whose
output at the largest preset's sequence length matches PyTorch's SDPA."""

from __future__ import annotations

import re

import pytest

from t2v_worker.engines.accel import GPU_ATTENTION_ORDER, pick_attention_backend
from t2v_worker.errors import ModelLoadFailed


class Transformer:
    """Accepts the backends in ``installed``, as diffusers does when their package is present."""

    def __init__(self, installed: set[str]) -> None:
        self.installed = installed
        self.backend: str | None = None

    def set_attention_backend(self, name: str) -> None:
        if name not in self.installed:
            raise RuntimeError(f"Flash Attention backend '{name}' is not usable because of missing package")
        self.backend = name


def test_the_fastest_installed_backend_wins() -> None:
    assert GPU_ATTENTION_ORDER == ("_flash_3", "flash", "_native_cudnn", "native")
    t = Transformer({"flash", "_native_cudnn", "native"})
    assert pick_attention_backend(t, GPU_ATTENTION_ORDER) == "flash" and t.backend == "flash"
    t = Transformer({"_flash_3", "flash", "native"})
    assert pick_attention_backend(t, GPU_ATTENTION_ORDER) == "_flash_3"


def test_no_backend_at_all_fails_the_load() -> None:
    with pytest.raises(ModelLoadFailed, match="no attention backend loads: _flash_3: .*; native: "):
        pick_attention_backend(Transformer(set()), GPU_ATTENTION_ORDER)


def test_the_wan_probe_runs_at_the_largest_presets_token_count() -> None:
    """1280×704 (or 704×1280) at 121 frames: 31 × 22 × 40 = 27 280 tokens, not a toy length."""
    from t2v_worker.config import WorkerConfig
    from t2v_worker.engines.wan import WanEngine

    engine = WanEngine(WorkerConfig(engine="wan", model_path="/nowhere"))
    engine.read_profile()
    assert engine.largest_tokens() == 27280
    shapes = WanEngine(WorkerConfig(engine="wan", model_path="/x", warmup_shapes=((832, 480, 121),)))
    shapes.read_profile()
    assert shapes.largest_tokens() == 12090


@pytest.mark.slow
def test_a_backend_whose_output_differs_from_sdpa_is_skipped_and_both_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend that loads and returns finite numbers, but the wrong ones (here: SDPA's math
    kernel made to answer zeros), is not chosen; the probe compares it with the reference."""
    torch = pytest.importorskip("torch")
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    from t2v_worker.engines.wan_tiny import build_components

    transformer = build_components(torch)["transformer"]
    math_backend = AttentionBackendName("_native_math")
    real = _AttentionBackendRegistry._backends[math_backend]

    def wrong(*args, **kwargs):  # noqa: ANN002, ANN003 - diffusers' backend signature
        return torch.zeros_like(real(*args, **kwargs))

    # set_attention_backend also sets diffusers' process-wide default: put it back afterwards.
    monkeypatch.setattr(
        _AttentionBackendRegistry, "_active_backend", _AttentionBackendRegistry._active_backend
    )
    caplog.set_level("INFO")
    # A correct candidate matches the reference to rounding.
    assert pick_attention_backend(transformer, ("_native_math", "native"), 1024) == "_native_math"
    assert "_native_math at 1024 tokens" in caplog.text and "native at 1024 tokens (reference)" in caplog.text
    caplog.clear()
    monkeypatch.setitem(_AttentionBackendRegistry._backends, math_backend, wrong)
    assert pick_attention_backend(transformer, ("_native_math", "native"), 1024) == "native"
    assert re.search(
        r"skipped _native_math: output differs from native at 1024 tokens \(relative error 0\.\d+ > 0\.02\)",
        caplog.text,
    )
    # Without a probe (CPU offload: weights not on the GPU yet) the first that loads is taken.
    assert pick_attention_backend(transformer, ("_native_math", "native")) == "_native_math"
