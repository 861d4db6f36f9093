"""The attention backend a GPU worker picks when none is configured."""

from __future__ import annotations

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


def test_a_backend_that_loads_but_fails_its_probe_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    t = Transformer({"_native_cudnn", "native"})

    def probe() -> None:
        if t.backend == "_native_cudnn":
            raise RuntimeError("cuDNN SDPA does not support head_dim 128 on this GPU")

    caplog.set_level("INFO")
    assert pick_attention_backend(t, GPU_ATTENTION_ORDER, probe) == "native"
    assert "skipped _flash_3: Flash Attention backend" in caplog.text
    assert "_native_cudnn: cuDNN SDPA does not support head_dim 128" in caplog.text


def test_no_backend_at_all_fails_the_load() -> None:
    with pytest.raises(ModelLoadFailed, match="no attention backend loads: _flash_3: .*; native: "):
        pick_attention_backend(Transformer(set()), GPU_ATTENTION_ORDER)


@pytest.mark.slow
def test_the_probe_runs_a_real_attention() -> None:
    from t2v_worker.engines.accel import probe_attention
    from t2v_worker.engines.wan_tiny import build_components

    torch = pytest.importorskip("torch")
    transformer = build_components(torch)["transformer"]
    assert pick_attention_backend(
        transformer, ("_flash_3", "native"), lambda: probe_attention(transformer)
    ) == ("native")
