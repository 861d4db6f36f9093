"""Acceleration on the real WanPipeline (wan-tiny, CPU): pass counts, the step cache and its reset
between jobs, the per-request opt-out, model profiles, compiled blocks, and recovery after an
out-of-memory in the middle of a cached job.

Frames are compared exactly where the same arithmetic runs on the same CPU (a fresh engine is
built from the same seeded weights), and within a tolerance where compiled kernels replace eager
ones (a different summation order changes the last bits of float32).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from t2v_worker.config import CacheSpec, WorkerConfig
from t2v_worker.errors import InvalidParams
from t2v_worker.params import GenerateParams, ImageInput
from worker_support import write_image

pytestmark = pytest.mark.slow

JOB_A = GenerateParams(
    prompt="a red car in the city at night",
    negative_prompt=None,
    width=128,
    height=128,
    num_frames=9,
    fps=8,
    num_inference_steps=8,
    guidance_scale=5.0,
    seed=3,
    flow_shift=None,
)
JOB_B = dataclasses.replace(JOB_A, prompt="a dog running on the beach", seed=11, num_inference_steps=10)
# High enough that random weights skip passes (their residuals change little between steps).
CACHE = CacheSpec("first-block", threshold=0.5)


def _engine(**config: Any) -> Any:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny", **config))
    engine.load()
    return engine


def _run(engine: Any, params: GenerateParams) -> tuple[np.ndarray, dict[str, Any]]:
    frames = engine.generate(params, lambda _step, _total: None)
    return np.asarray(frames), engine.run_report(params)


@pytest.fixture(scope="module")
def plain() -> Any:
    return _engine()


@pytest.fixture(scope="module")
def cached() -> Any:
    return _engine(cache=CACHE)


def test_guidance_one_skips_the_unconditional_pass(plain: Any) -> None:
    _, report = _run(plain, dataclasses.replace(JOB_A, guidance_scale=1.0))
    assert report["passes"] == report["planned_passes"] == JOB_A.num_inference_steps
    _, report = _run(plain, JOB_A)
    assert report["passes"] == report["planned_passes"] == 2 * JOB_A.num_inference_steps
    assert report["cache"] == "off" and report["compile"] == "off" and report["attention"] == "native"


def test_the_step_cache_skips_passes_and_is_reset_between_jobs(cached: Any) -> None:
    _run(cached, JOB_A)
    after_a, report_after_a = _run(cached, JOB_B)
    fresh = _engine(cache=CACHE)
    alone, report_alone = _run(fresh, JOB_B)
    assert report_after_a["cache"] == "first-block:0.5"
    assert report_after_a["passes"] < report_after_a["planned_passes"], report_after_a
    # Job B computes the same passes and the same frames whether or not job A ran before it.
    assert report_after_a == report_alone
    np.testing.assert_array_equal(after_a, alone)


def test_acceleration_none_runs_every_pass_like_an_uncached_worker(cached: Any, plain: Any) -> None:
    reference, reference_report = _run(plain, JOB_B)
    opted_out, report = _run(cached, dataclasses.replace(JOB_B, acceleration="none"))
    assert report["cache"] == "off" and report["weights"] == "bf16"
    assert report["passes"] == report["planned_passes"] == reference_report["passes"]
    np.testing.assert_array_equal(opted_out, reference)
    # The next auto job has its cache back.
    _, report = _run(cached, JOB_B)
    assert report["cache"] == "first-block:0.5" and report["passes"] < report["planned_passes"]


def test_a_cached_job_that_runs_out_of_memory_leaves_nothing_behind(cached: Any) -> None:
    """An OOM in the middle of a cached job; the next job equals the same job on a fresh worker."""
    torch = pytest.importorskip("torch")
    block = cached.pipe.transformer.blocks[0]
    calls = {"n": 0}

    def fail_on_the_fifth_call(_module: Any, _args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    handle = block.register_forward_pre_hook(fail_on_the_fifth_call)
    try:
        with pytest.raises(torch.OutOfMemoryError):
            _run(cached, JOB_A)
    finally:
        handle.remove()
    cached.free_memory()
    after, report = _run(cached, JOB_B)
    alone, report_alone = _run(_engine(cache=CACHE), JOB_B)
    assert report == report_alone
    np.testing.assert_array_equal(after, alone)


def _profile(tmp_path: Path, **fields: Any) -> str:
    path = tmp_path / "t2v-profile.json"
    path.write_text(json.dumps(fields))
    return str(path)


def test_a_distilled_profile_sets_limits_flow_shift_and_one_pass_per_step(tmp_path: Path, plain: Any) -> None:
    profile = _profile(
        tmp_path,
        id="tiny-distilled",
        num_inference_steps={"min": 1, "max": 4, "default": 3},
        guidance_scale={"min": 0, "max": 1, "default": 1},
        flow_shift=8,
    )
    engine = _engine(model_profile=profile)
    with pytest.raises(InvalidParams, match=r"num_inference_steps 8 is outside 1\.\.4 \(model profile"):
        engine.validate(JOB_A)
    with pytest.raises(InvalidParams, match=r"guidance_scale 5 is outside 0\.\.1"):
        engine.validate(dataclasses.replace(JOB_A, num_inference_steps=3))
    job = dataclasses.replace(JOB_A, num_inference_steps=3, guidance_scale=1.0)
    frames, report = _run(engine, job)
    assert report["passes"] == report["planned_passes"] == 3
    # No flow shift in the request: the profile's 8, exactly as if the request had asked for it.
    explicit, _ = _run(plain, dataclasses.replace(job, flow_shift=8.0))
    np.testing.assert_array_equal(frames, explicit)
    default, _ = _run(plain, job)
    assert not np.array_equal(frames, default)


def test_a_profile_beside_the_weights_is_found_and_a_bad_one_fails_the_load(tmp_path: Path) -> None:
    from t2v_worker.errors import ModelLoadFailed

    bad = _profile(tmp_path, guidance_scale={"min": 0, "max": 1, "default": 3})
    with pytest.raises(ModelLoadFailed, match="guidance_scale needs min <= default <= max"):
        _engine(model_profile=bad)


def test_compiled_blocks_match_eager_and_fresh_hooks_do_not_recompile(plain: Any, tmp_path: Path) -> None:
    """One compile of the tiny block on CPU (tens of seconds): the cost of proving it in CI."""
    torch = pytest.importorskip("torch")
    from torch._dynamo.utils import counters

    job = dataclasses.replace(JOB_A, num_inference_steps=3)
    eager, _ = _run(plain, job)
    # Presets at two token counts: 128×64 and 64×128 (9 frames) are 24 tokens, 128×128 is 48.
    engine = _engine(compile="blocks", cache=CACHE, warmup_shapes=((128, 64, 9), (64, 128, 9), (128, 128, 9)))
    decodes = {"n": 0}
    decode = engine.pipe.vae.decoder.forward

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        decodes["n"] += 1
        return decode(*args, **kwargs)

    # The decoder runs once per latent frame (the decode streams into the encoder, ADR 0085).
    engine.pipe.vae.decoder.forward = counting_decode
    before_warmup = counters["stats"]["unique_graphs"]
    engine.warmup()
    # The transformer only (the latents are the output: no VAE decode), one graph per token count.
    assert decodes["n"] == 0
    assert counters["stats"]["unique_graphs"] == before_warmup + 2
    compiled, report = _run(engine, dataclasses.replace(job, acceleration="none"))
    assert decodes["n"] == 3  # 9 frames: 3 latent frames
    assert report["compile"] == "blocks" and report["passes"] == report["planned_passes"]
    # float32 with other kernels: the video is the same to well under one 8-bit level (1/255).
    np.testing.assert_allclose(compiled, eager, atol=1e-3)
    graphs = counters["stats"]["unique_graphs"]
    _run(engine, job)  # fresh cache hooks around the compiled block
    _run(engine, dataclasses.replace(job, acceleration="none"))
    # An image job of the same size runs the same compiled block: same shapes, same dtypes.
    image = ImageInput(**write_image(tmp_path / "in.png", job.width, job.height, seed=1))
    _, image_report = _run(engine, dataclasses.replace(job, image=image, acceleration="none"))
    assert image_report["passes"] == image_report["planned_passes"]
    _run(engine, dataclasses.replace(job, width=64, height=128, num_inference_steps=1))  # warmed: 24 tokens
    assert counters["stats"]["unique_graphs"] == graphs
    assert torch.compiler.is_compiling() is False
    # Static shapes: each new token count is a graph of its own, specialised to it (dynamo's
    # automatic dynamic shapes would make the second new one reuse a symbolic graph instead).
    for width, height in ((96, 64), (64, 64)):
        _run(engine, dataclasses.replace(job, width=width, height=height, num_inference_steps=1))
        graphs += 1
        assert counters["stats"]["unique_graphs"] == graphs
