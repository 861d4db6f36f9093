"""The GPU benchmark script, exercised on a CPU with the tiny configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bench

BENCH = Path(bench.__file__)


def test_full_size_geometry() -> None:
    shape = bench.latent_shape(704, 1280, 121, bench.TI2V_5B_TRANSFORMER, bench.TI2V_5B_VAE)
    assert (shape.latent_frames, shape.latent_height, shape.latent_width) == (
        31,
        44,
        80,
    )
    assert shape.tokens == 31 * 22 * 40


def test_full_size_flops_are_plausible() -> None:
    # ≈5B parameters → ≈2·5e9 FLOPs per token for the dense part, plus attention over 27k tokens.
    shape = bench.latent_shape(704, 1280, 121, bench.TI2V_5B_TRANSFORMER, bench.TI2V_5B_VAE)
    flops = bench.transformer_flops(bench.TI2V_5B_TRANSFORMER, shape.tokens, bench.TEXT_LEN)
    dense = 2 * 5e9 * shape.tokens
    assert dense < flops < 4 * dense


def test_peak_lookup() -> None:
    assert bench.bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench.bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.bf16_peak_tflops("NVIDIA H200") == 989.0
    assert bench.bf16_peak_tflops("Tesla T4") == 65.0
    assert bench.bf16_peak_tflops("Some Future GPU") is None


def test_bad_geometry_is_refused() -> None:
    with pytest.raises(SystemExit):
        bench.latent_shape(700, 1280, 121, bench.TI2V_5B_TRANSFORMER, bench.TI2V_5B_VAE)
    with pytest.raises(SystemExit):
        bench.latent_shape(704, 1280, 120, bench.TI2V_5B_TRANSFORMER, bench.TI2V_5B_VAE)


@pytest.mark.slow
def test_flop_formula_matches_torch_flop_counter() -> None:
    torch = pytest.importorskip("torch")
    from diffusers import WanTransformer3DModel
    from torch.utils.flop_counter import FlopCounterMode

    cfg = {
        **bench.TINY_TRANSFORMER,
        "num_attention_heads": 4,
        "attention_head_dim": 16,
        "ffn_dim": 96,
    }
    shape = bench.latent_shape(128, 128, 17, cfg, bench.TINY_VAE)
    torch.manual_seed(0)
    model = WanTransformer3DModel(**cfg).eval()
    x = torch.randn(1, 48, shape.latent_frames, shape.latent_height, shape.latent_width)
    text = torch.randn(1, bench.TINY_TEXT_LEN, cfg["text_dim"])
    timestep = torch.full((1, shape.tokens), 500.0)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(
            hidden_states=x,
            timestep=timestep,
            encoder_hidden_states=text,
            return_dict=False,
        )
    counted = counter.get_total_flops()
    estimated = bench.transformer_flops(cfg, shape.tokens, bench.TINY_TEXT_LEN)
    # The counter sees every linear layer but not diffusers' attention dispatch on CPU.
    cores = bench.attention_core_flops(cfg, shape.tokens, bench.TINY_TEXT_LEN)
    assert estimated - cores == pytest.approx(counted, rel=0.01), (
        estimated,
        cores,
        counted,
    )


@pytest.mark.slow
def test_tiny_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--tiny",
            "--dtype",
            "float32",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result == json.loads(out.read_text())
    assert result["device"] == "cpu" and result["steps_timed"] == 2
    assert result["shape"]["tokens"] == 80
    assert result["sec_per_step_cfg"] > 0 and result["vae_decode_s"] > 0
    assert result["tflop_per_step"] >= 0 and result["mfu"] is None
    assert "s/step (CFG)" in proc.stderr


def test_refuses_cuda_without_a_gpu() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="no CUDA device"):
        bench.run(bench.parse_args(["--steps", "1"]))


@pytest.mark.slow
def test_tiny_matrix_writes_json_and_the_docs_section(tmp_path: Path) -> None:
    """The one prepared GPU command, on tiny configs and a CPU: every case runs or says why not."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"# B\n\nbefore\n\n{bench.GPU_SECTION_START}\nstale figures\n{bench.GPU_SECTION_END}\n\nafter\n"
    )
    out = tmp_path / "matrix.json"
    argv = ["--tiny", "--dtype", "float32", "--steps", "1", "--warmup", "0", "--matrix", "--skip-compile"]
    argv += ["--e2e-steps", "4", "--json", str(out), "--write-docs", str(doc)]
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    cases = {c["case"]: c for c in result["cases"]}
    assert cases["eager, native SDPA (baseline)"]["sec_per_step"] > 0
    # Backends that need a GPU package report why they are unavailable instead of failing the run.
    assert "not usable" in cases["eager, flash"]["error"]
    fbc = cases["first-block cache: a computed vs a skipped step"]
    assert fbc["sec_per_step_computed"] > 0 and fbc["sec_per_step_skipped"] > 0
    assert cases["end to end: 3 steps, no CFG"]["steps"] == 3
    assert cases["end to end: 4 steps, CFG"]["vae_decode_s"] > 0
    # The parallel case runs the worker's group code on 2 gloo ranks and matches one device.
    group = cases["cfg across gloo ranks"]
    assert group["ranks"] == 2 and group["sec_per_step"] > 0
    assert group["max_abs_diff_vs_one_device"] <= 1e-4 * max(1.0, group["latent_abs_max"])
    text = doc.read_text()
    assert text.startswith("# B\n\nbefore\n") and text.endswith("after\n") and "stale figures" not in text
    assert "| eager, native SDPA (baseline) |" in text and "s end to end**" in text
    assert "2 ranks (`T2V_PARALLEL=cfg`)" in text
