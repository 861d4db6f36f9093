"""The GPU benchmark script, exercised on a CPU with the tiny configs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
    stream = tmp_path / "stream.jsonl"
    argv = ["--tiny", "--dtype", "float32", "--steps", "1", "--warmup", "0", "--matrix", "--skip-compile"]
    argv += ["--e2e-steps", "50", "--e2e-measure-steps", "2", "--json", str(out), "--write-docs", str(doc)]
    argv += ["--stream", str(stream)]
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    cases = {c["case"]: c for c in result["cases"]}
    # Every case was written when it started and when it ended, in order, before the run's end.
    lines = [json.loads(line) for line in stream.read_text().splitlines()]
    finished = [line for line in lines if line.get("status") != "started"]
    assert [line["case"] for line in finished] == [c["case"] for c in result["cases"]]
    started = [line["case"] for line in lines if line.get("status") == "started"]
    assert started == [c["case"] for c in result["cases"] if "skipped" not in c]
    assert cases["eager, native SDPA (baseline)"]["sec_per_step"] > 0
    # Backends that need a GPU package report why they are unavailable instead of failing the run.
    assert "not usable" in cases["eager, flash"]["error"]
    fbc = cases["first-block cache: a computed vs a skipped step"]
    assert fbc["sec_per_step_computed"] > 0 and fbc["sec_per_step_skipped"] > 0
    assert cases["end to end: 3 steps, no CFG"]["steps"] == 3
    # The 50-step run: 2 CFG steps timed, the rest extrapolated, and it says so.
    long = cases["end to end: 50 steps, CFG"]
    assert (long["steps"], long["measured_steps"], long["extrapolated"]) == (50, 2, True)
    assert long["vae_decode_s"] > 0 and long["denoise_s"] == pytest.approx(
        50 * long["sec_per_step"], rel=0.01
    )
    assert long["total_s"] == pytest.approx(long["denoise_s"] + long["vae_decode_s"], abs=0.02)
    # The parallel case runs the worker's group code on 2 gloo ranks and matches one device.
    group = cases["cfg across gloo ranks"]
    assert group["ranks"] == 2 and group["sec_per_step"] > 0
    assert group["max_abs_diff_vs_one_device"] <= 1e-4 * max(1.0, group["latent_abs_max"])
    text = doc.read_text()
    assert text.startswith("# B\n\nbefore\n") and text.endswith("after\n") and "stale figures" not in text
    assert "| eager, native SDPA (baseline) |" in text and "s end to end**" in text
    assert "extrapolated from 2 timed steps" in text
    # A lent machine's matrix.json writes the same section here, without running anything.
    doc.write_text(f"# B\n\n{bench.GPU_SECTION_START}\nstale\n{bench.GPU_SECTION_END}\n")
    assert bench.main(["--from-json", str(out), "--write-docs", str(doc)]) == 0
    assert "| eager, native SDPA (baseline) |" in doc.read_text() and "stale" not in doc.read_text()
    assert "2 ranks (`T2V_PARALLEL=cfg`)" in text
    # The stage after the last step, whole vs streamed, on the matrix's VAE; FP8 says why not here.
    stream_case = cases["decode → MP4: whole vs streamed"]
    assert stream_case["streamed_s"] > 0 and stream_case["decode_alone_s"] > 0 and stream_case["whole_s"] > 0
    assert "needs a CUDA GPU with FP8 tensor cores" in cases[bench.FP8_CASE]["skipped"]


@pytest.mark.slow
def test_a_failed_compile_leaves_the_blocks_eager_for_the_cases_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A compile that fails at its first step (no C compiler, a Triton error) is that case's
    error; the blocks are put back and every later case runs, eager."""
    monkeypatch.syspath_prepend(str(bench.WORKER_SRC))
    import t2v_worker.engines.accel as accel

    def failing_compile(transformer: Any) -> Any:
        eager = [block.forward for block in transformer.blocks]

        def broken(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("Failed to find C compiler. Please specify via CC environment variable")

        for block in transformer.blocks:
            block.forward = broken

        def restore() -> None:
            for block, forward in zip(transformer.blocks, eager, strict=True):
                block.forward = forward

        return restore

    monkeypatch.setattr(accel, "compile_blocks", failing_compile)
    args = bench.parse_args(
        ["--tiny", "--dtype", "float32", "--steps", "1", "--warmup", "0", "--matrix", "--parallel", "off"]
        + ["--e2e-steps", "4", "--e2e-measure-steps", "2"]
    )
    result = bench.run_matrix(args)
    cases = {c["case"]: c for c in result["cases"]}
    assert "Failed to find C compiler" in cases["compiled blocks, native"]["error"]
    assert "compiled blocks, a size outside the warmed set" not in cases  # nothing compiled to reuse
    fbc = cases["first-block cache: a computed vs a skipped step"]
    assert fbc["compiled"] is False and fbc["sec_per_step_computed"] > 0
    assert cases["end to end: 4 steps, CFG"]["compiled"] is False
    assert cases["end to end: 4 steps, CFG"]["total_s"] > 0


def _wheels() -> dict[str, str]:
    lines = (Path(bench.__file__).parent / "wheels.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))


def test_the_carried_wheels_are_the_locked_versions() -> None:
    """What the lent machine lacks travels as wheels of the versions the worker is tested with
    (imageio-ffmpeg excepted: the lock's is too large to carry; the wheel list says why)."""
    lock = Path(bench.__file__).resolve().parents[3] / "apps" / "worker" / "requirements.lock"
    locked = dict(
        line.lower().split("==")
        for line in lock.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    wheels = _wheels()
    assert set(wheels) == {"diffusers", "ftfy", "wcwidth", "imageio-ffmpeg", "torchao"}
    for name, version in wheels.items():
        if name not in ("imageio-ffmpeg", "torchao"):
            assert locked[name] == version, name
    assert "imageio-ffmpeg" in locked


DEVICE_RUN = Path(bench.__file__).parent / "device-run.sh"


def _run_device(out: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUT": str(out), "T2V_PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(DEVICE_RUN), "--dry-run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_the_device_runner_dry_run_completes_and_writes_each_case(tmp_path: Path) -> None:
    """The prepared GPU run on a CPU: every case runs with tiny configs, CUDA-only parts are
    skipped, and each case's result is on disk by the time the next starts."""
    out = tmp_path / "out"
    proc = _run_device(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = _lines(out / "cases.jsonl")
    results = {r["case"]: r for r in records if r.get("status") != "started"}
    assert list(results) == ["env", "attention", "worker", "wan", "vae", "matrix"]
    assert all(r["status"] == "ok" for r in results.values()), results
    # Started, then its result, then the next case: nothing waits for the end of the run.
    order = [(r["case"], r.get("status") == "started") for r in records]
    assert order == [(name, flag) for name in results for flag in (True, False)]
    env = results["env"]["result"]
    assert env["cuda"] == "skipped: dry run (CUDA only)" and env["cuda_device_order"] == "PCI_BUS_ID"
    assert env["triton_launcher_error"] is None
    assert results["attention"]["result"]["chosen"] == "_native_math"
    worker = results["worker"]["result"]
    assert (worker["frames"], worker["mp4_is_iso_media"], worker["exit_status"]) == (17, True, 0)
    assert 0 < worker["peak_rss_gib"] < 4
    # The production engine's loader, on a saved tiny directory (its card: the wan model's id).
    wan = results["wan"]["result"]
    assert (wan["engine"], wan["model"], wan["frames"], wan["exit_status"]) == (
        "wan",
        "Wan2.2-TI2V-5B",
        17,
        0,
    )
    vae = results["vae"]["result"]
    assert vae["size"] == "512x256x5" and vae["tiled_s"] > 0 and vae["psnr_db"] > 30
    matrix = _lines(out / "matrix.jsonl")
    assert any(r["case"] == "eager, native SDPA (baseline)" and "sec_per_step" in r for r in matrix)
    assert "| matrix | ok |" in (out / "summary.md").read_text()
    # What comes back from a lent machine's output folder: at most 8 files.
    assert len(list(out.iterdir())) <= 8


@pytest.mark.slow
def test_a_run_cut_short_keeps_the_cases_that_finished(tmp_path: Path) -> None:
    """Killed in the middle (the lease ends): the cases before are complete in cases.jsonl."""
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "T2V_PYTHON": sys.executable}
    proc = subprocess.Popen(
        ["bash", str(DEVICE_RUN), "--dry-run", "--only", "env", "attention"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            path = out / "cases.jsonl"
            if path.exists() and any(
                r["case"] == "attention" and r.get("status") == "started" for r in _lines(path)
            ):
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    results = {r["case"]: r for r in _lines(out / "cases.jsonl") if r.get("status") != "started"}
    assert results["env"]["status"] == "ok" and results["env"]["result"]["cuda_device_order"] == "PCI_BUS_ID"
    assert "attention" not in results
