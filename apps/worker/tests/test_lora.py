"""LoRA adapters on wan-tiny: ``T2V_LORAS`` parsing, boot-time validation (a bad adapter is a
permanent load failure naming the file), per-job switching without disk reads, no leak from one
job into the next (also with the step cache on), and the same through the worker process.

The adapters are made here: random low-rank weights for every attention projection of the tiny
transformer, saved in diffusers' LoRA file format (``worker_support.write_tiny_lora``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from t2v_worker import protocol
from t2v_worker.config import CacheSpec, ConfigError, LoraSpec, WorkerConfig, load_config, parse_loras
from t2v_worker.errors import InvalidParams, ModelLoadFailed
from t2v_worker.params import GenerateParams, LoraChoice
from worker_support import WorkerProcess, generate_request, image_input, job_params, write_tiny_lora

JOB = job_params(
    prompt="a dog running on the beach",
    negative_prompt=None,
    width=96,
    height=64,
    num_frames=9,
    num_inference_steps=4,
    seed=21,
)


# ---- configuration ---------------------------------------------------------------------------


def test_t2v_loras_is_parsed_and_checked() -> None:
    assert parse_loras("") == ()
    assert parse_loras(" style=/models/loras/style.safetensors , fast.v2=/models/loras/fast ") == (
        LoraSpec("style", "/models/loras/style.safetensors"),
        LoraSpec("fast.v2", "/models/loras/fast"),
    )
    for raw, expected in (
        ("style", "is not <name>=<absolute path"),
        ("=/x.safetensors", "is not <name>=<absolute path"),
        ("bad name=/x.safetensors", "adapter name 'bad name'"),
        ("-x=/x.safetensors", "adapter name '-x'"),
        ("a=/x.safetensors,a=/y.safetensors", "'a' is given twice"),
        ("a=loras/x.safetensors", "is not absolute"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_loras(raw)
        assert "T2V_LORAS" in str(err.value) and expected in str(err.value), str(err.value)
    assert load_config({"T2V_LORAS": "a=/x.safetensors"}).loras == (LoraSpec("a", "/x.safetensors"),)


def test_loras_with_compiled_blocks_are_refused_at_boot() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"T2V_LORAS": "a=/x.safetensors", "T2V_COMPILE": "blocks"})
    assert "T2V_LORAS cannot be combined with T2V_COMPILE=blocks" in str(err.value)


def test_adapter_paths_resolve_to_one_safetensors_file(tmp_path: Path) -> None:
    from t2v_worker.engines.lora import resolve_file

    def resolve(path: Path) -> str:
        return resolve_file(LoraSpec("x", str(path)))

    (tmp_path / "file.safetensors").write_bytes(b"")
    assert resolve(tmp_path / "file.safetensors") == str(tmp_path / "file.safetensors")
    one = tmp_path / "one"
    one.mkdir()
    (one / "style_v1.safetensors").write_bytes(b"")
    assert resolve(one) == str(one / "style_v1.safetensors")
    (one / "pytorch_lora_weights.safetensors").write_bytes(b"")
    assert resolve(one) == str(one / "pytorch_lora_weights.safetensors")
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.safetensors").write_bytes(b"")
    (two / "b.safetensors").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    (tmp_path / "pickle.bin").write_bytes(b"")
    for path, expected in (
        (tmp_path / "missing.safetensors", "does not exist"),
        (tmp_path / "empty", "holds no .safetensors file"),
        (two, "holds several .safetensors files (a.safetensors, b.safetensors)"),
        (tmp_path / "pickle.bin", "is not a .safetensors file"),
    ):
        with pytest.raises(ModelLoadFailed) as err:
            resolve(path)
        assert err.value.permanent and str(path) in str(err.value) and expected in str(err.value), str(
            err.value
        )


# ---- in process ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loras")
    write_tiny_lora(folder / "style.safetensors", seed=1)
    (folder / "motion").mkdir()
    write_tiny_lora(folder / "motion" / "pytorch_lora_weights.safetensors", seed=2)
    return folder


def _engine(loras: tuple[LoraSpec, ...], **config: Any) -> Any:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny", loras=loras, **config))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(lora_dir: Path) -> Any:
    """Two adapters, and the step cache on: adapter switches must not poison it."""
    specs = (
        LoraSpec("style", str(lora_dir / "style.safetensors")),
        LoraSpec("motion", str(lora_dir / "motion")),
    )
    return _engine(specs, cache=CacheSpec("first-block", threshold=0.5))


def _run(engine: Any, params: GenerateParams, *loras: tuple[str, float]) -> np.ndarray:
    chosen = tuple(LoraChoice(name, scale) for name, scale in loras)
    return np.asarray(engine.generate(dataclasses.replace(params, loras=chosen), lambda _s, _t: None))


@pytest.mark.slow
def test_adapters_change_the_video_and_leave_no_trace(engine: Any, lora_dir: Path, tmp_path: Path) -> None:
    assert engine.lora_names == ("style", "motion")
    base = _run(engine, JOB)
    style = _run(engine, JOB, ("style", 1.0))
    assert not np.array_equal(base, style)
    # Switching reads nothing from disk: with the files gone, every combination still runs.
    hidden = tmp_path / "hidden"
    os.rename(lora_dir, hidden)
    try:
        partial = _run(engine, JOB, ("style", 0.5))
        both = _run(engine, JOB, ("style", 1.0), ("motion", 1.0))
        motion = _run(engine, JOB, ("motion", 1.0))
        zero = _run(engine, JOB, ("style", 0.0))
        after = _run(engine, JOB)
        style_again = _run(engine, JOB, ("style", 1.0))
    finally:
        os.rename(hidden, lora_dir)
    assert len({a.tobytes() for a in (base, style, partial, both, motion)}) == 5
    assert np.array_equal(zero, base)  # scale 0 is the base model
    assert np.array_equal(after, base)  # no leak into a job without adapters
    assert np.array_equal(style_again, style)  # and none between combinations
    # The step cache skipped passes in these jobs and still gave exact repeats.
    report = engine.run_report(JOB)
    assert report["cache"] == "first-block:0.5" and report["passes"] < report["planned_passes"], report


@pytest.mark.slow
def test_adapters_apply_to_image_jobs_too(engine: Any, tmp_path: Path) -> None:
    image = image_input(tmp_path / "i.png", JOB.width, JOB.height, seed=5)
    job = dataclasses.replace(JOB, image=image)
    plain, styled = _run(engine, job), _run(engine, job, ("style", 1.0))
    assert not np.array_equal(plain, styled)
    assert np.array_equal(_run(engine, job), plain)


@pytest.mark.slow
def test_unknown_or_repeated_adapters_are_invalid_params(engine: Any) -> None:
    for loras, expected in (
        ((LoraChoice("nope", 1.0),), "lora 'nope' is not loaded by this worker (loaded: style, motion)"),
        ((LoraChoice("style", 1.0), LoraChoice("style", 0.5)), "lora 'style' is chosen twice"),
    ):
        with pytest.raises(InvalidParams) as err:
            engine.validate(dataclasses.replace(JOB, loras=loras))
        assert expected in str(err.value)


@pytest.mark.slow
def test_a_bad_adapter_file_is_a_permanent_load_failure_naming_it(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from t2v_worker.engines.lora import LoraSet
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    (tmp_path / "garbage.safetensors").write_bytes(b"\x00not safetensors" * 8)
    write_tiny_lora(tmp_path / "wide.safetensors", seed=3, inner_dim=32)
    save_file(
        {
            "transformer.nothing.here.lora_A.weight": torch.zeros(4, 24),
            "transformer.nothing.here.lora_B.weight": torch.zeros(24, 4),
        },
        str(tmp_path / "elsewhere.safetensors"),
    )
    save_file({"blocks.0.attn1.to_q.weight": torch.zeros(24, 24)}, str(tmp_path / "full.safetensors"))
    partial = dict(load_file(str(write_tiny_lora(tmp_path / "partial.safetensors", seed=4))))
    partial["transformer.blocks.0.attn9.to_q.lora_A.weight"] = torch.zeros(4, 24)
    partial["transformer.blocks.0.attn9.to_q.lora_B.weight"] = torch.zeros(24, 4)
    save_file(partial, str(tmp_path / "partial.safetensors"))
    write_tiny_lora(tmp_path / "half.safetensors", seed=5)  # a good file under a reserved name
    builder = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    builder.torch = torch
    for name, expected in (
        ("garbage", "Unable to load weights"),
        ("wide", "size mismatch"),
        ("elsewhere", "not found in the base model"),
        ("full", "Invalid LoRA checkpoint"),
        ("partial", "matches 16 of its 17 layers in the transformer"),
        ("half", "the name is an attribute of every torch layer"),
    ):
        path = tmp_path / f"{name}.safetensors"
        with pytest.raises(ModelLoadFailed) as err:
            LoraSet((LoraSpec(name, str(path)),)).load(builder.build_pipeline())
        message = str(err.value)
        assert err.value.permanent, message
        assert f"T2V_LORAS: adapter '{name}' ({path})" in message and expected in message, message


# ---- through the worker process ------------------------------------------------------------


@pytest.mark.slow
def test_a_missing_adapter_stops_the_worker_with_exit_78(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"
    worker = WorkerProcess({"T2V_ENGINE": "wan-tiny", "T2V_LORAS": f"style={missing}"})
    event = worker.next_event(timeout=60)
    assert event["type"] == "error" and event["code"] == "MODEL_LOAD_FAILED", event
    assert str(missing) in event["message"] and "does not exist" in event["message"]
    assert worker.proc.wait(timeout=30) == protocol.EXIT_PERMANENT


@pytest.mark.slow
def test_a_job_after_a_lora_job_equals_a_worker_that_never_loaded_it(
    tiny_worker: WorkerProcess, lora_dir: Path, tmp_path: Path
) -> None:
    worker = WorkerProcess({"T2V_ENGINE": "wan-tiny", "T2V_LORAS": f"style={lora_dir / 'style.safetensors'}"})
    try:
        ready = worker.next_event(timeout=180)
        assert ready["type"] == "ready" and ready["card"]["loras"] == ["style"], ready
        out = tmp_path / "lora"
        out.mkdir()
        worker.send(generate_request("with_lora", out, loras=[{"name": "style", "scale": 0.8}]))
        _, a = worker.until_terminal("with_lora")
        worker.send(generate_request("unknown_lora", out, loras=[{"name": "other", "scale": 1.0}]))
        progress, refused = worker.until_terminal("unknown_lora")
        worker.send(generate_request("without_lora", out))
        _, b = worker.until_terminal("without_lora")
    finally:
        assert worker.close() == 0
    assert a["type"] == b["type"] == "done", (a, b)
    assert progress == [] and refused["code"] == "INVALID_PARAMS" and "'other'" in refused["message"]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    tiny_worker.send(generate_request("never_saw_it", fresh))
    _, c = tiny_worker.until_terminal("never_saw_it")
    assert c["type"] == "done"
    assert Path(b["path"]).read_bytes() == Path(c["path"]).read_bytes()
    assert Path(a["path"]).read_bytes() != Path(c["path"]).read_bytes()
