"""Loading the ``wan`` engine's weights (engines/loading.py): host memory, and the text encoder's
tied embeddings.

Host memory is measured in fresh processes by ``scripts/load_memory.py`` on a random checkpoint
with Wan's on-disk dtypes (the transformer in float32, converted to bfloat16 while loading) and
the ``meta`` device as the target: a component placed there leaves host memory as one placed on a
GPU does. The old path (``WanPipeline.from_pretrained`` into host memory, then moved) holds the
whole converted transformer in anonymous memory at its peak; the worker's loader holds about one
tensor. The transformer here is narrow (8 × 128 channels, 4 blocks: 0.33 GB in bfloat16) so the
test takes seconds; docs/benchmarks.md has the full-size figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from t2v_worker.errors import ModelLoadFailed, is_permanent
from worker_support import WORKER_DIR

pytestmark = pytest.mark.slow

SCRIPT = WORKER_DIR / "scripts" / "load_memory.py"


def _script(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *args], check=True, capture_output=True, text=True, timeout=300
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpt") / "Wan-narrow"
    made = _script(
        "make",
        str(root),
        "--transformer-layers",
        "4",
        "--transformer-heads",
        "8",
        "--text-layers",
        "0",
        "--small-vae",
    )
    assert made["bytes_on_disk"]["transformer"] > 600e6  # float32 on disk, as in the real snapshot
    return root


def _anonymous_peak(result: dict[str, Any]) -> int:
    return result["peak"]["RssAnon"] - result["baseline"]["RssAnon"]


def test_the_loader_holds_about_one_tensor_not_the_converted_transformer(checkpoint: Path) -> None:
    before = _script("measure", str(checkpoint), "--mode", "before")
    after = _script("measure", str(checkpoint), "--mode", "after")
    transformer = after["component_bytes"]["transformer"]  # in bfloat16, as the worker holds it
    assert before["component_bytes"] == after["component_bytes"]
    # The old path converts the whole transformer in host memory before anything moves.
    assert _anonymous_peak(before) > 0.8 * transformer, before
    # Component by component, each tensor to its device as it is read: a small fraction of it.
    assert _anonymous_peak(after) < 0.25 * transformer, after


def test_an_untied_text_encoder_fails_the_load(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A transformers release that does not tie UMT5's ``encoder.embed_tokens`` to ``shared``
    (it once left it all zeros) would make every prompt encode alike: refused, permanently."""
    from transformers import UMT5EncoderModel

    from t2v_worker.engines.loading import load_components

    monkeypatch.setattr(UMT5EncoderModel, "_tied_weights_keys", {})
    with pytest.raises(ModelLoadFailed) as err:
        load_components(str(checkpoint), "cpu")
    assert is_permanent(err.value)
    assert "encoder.embed_tokens is not tied to shared.weight and differs from it" in str(err.value)
    assert "transformers 5." in str(err.value)


def test_the_tie_check(caplog: pytest.LogCaptureFixture) -> None:
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    from t2v_worker.engines.loading import check_text_encoder

    te = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4))
    assert te.encoder.embed_tokens.weight is te.shared.weight
    check_text_encoder(te)
    # An untied copy with the same values works (it costs memory): a warning, not a failure.
    te.encoder.embed_tokens = torch.nn.Embedding(64, 16)
    te.encoder.embed_tokens.weight.data.copy_(te.shared.weight.data)
    check_text_encoder(te)
    assert "holds its token embeddings twice" in caplog.text
    torch.nn.init.zeros_(te.encoder.embed_tokens.weight)
    with pytest.raises(ModelLoadFailed, match=r"differs from it \(all zeros\)"):
        check_text_encoder(te, "/models/x")
