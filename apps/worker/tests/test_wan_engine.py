"""The production `wan` engine's load path, offline, on a diffusers-format directory.

The directory is the tiny random pipeline saved with ``save_pretrained``: the same layout as
``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` (model_index.json, transformer/, vae/, text_encoder/,
tokenizer/, scheduler/), so ``from_pretrained`` with the hub off, the dtype split and the
per-job scheduler are exercised for real.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from t2v_worker.config import WorkerConfig
from t2v_worker.params import GenerateParams
from worker_support import WorkerProcess, ffprobe, generate_request, write_image

pytestmark = pytest.mark.slow

PARAMS = GenerateParams(
    prompt="a cat dancing in the rain",
    negative_prompt="blurry",
    width=128,
    height=128,
    num_frames=9,
    fps=8,
    num_inference_steps=3,
    guidance_scale=5.0,
    seed=11,
    flow_shift=None,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    engine.load()
    root = tmp_path_factory.mktemp("models") / "Wan2.2-TI2V-tiny-Diffusers"
    engine.pipe.save_pretrained(str(root))
    return root


@pytest.fixture(scope="module")
def wan_engine(model_dir: Path) -> Any:
    from t2v_worker.engines.wan import WanEngine

    engine = WanEngine(WorkerConfig(engine="wan", model_path=str(model_dir), vae_tiling=True))
    engine.load()
    return engine


def test_saved_layout_is_what_the_check_expects(model_dir: Path) -> None:
    from t2v_worker.engines.wan import check_model_dir

    check_model_dir(str(model_dir))
    for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (model_dir / sub).is_dir()


def test_dtypes_and_model_id(wan_engine: Any, model_dir: Path) -> None:
    import torch

    assert wan_engine.model_id == "Wan2.2-TI2V-5B"
    assert wan_engine.pipe.vae.dtype == torch.float32
    assert wan_engine.pipe.transformer.dtype == torch.bfloat16
    assert wan_engine.pipe.text_encoder.dtype == torch.bfloat16
    assert wan_engine.pipe.vae.use_tiling is True


def test_image_jobs_share_the_components_in_their_dtypes(
    wan_engine: Any, model_dir: Path, tmp_path: Path
) -> None:
    """``from_pipe`` would cast the shared modules to one dtype; the engine's constructor does not."""
    import json

    import torch

    from t2v_worker.params import ImageInput

    assert json.loads((model_dir / "model_index.json").read_text())["expand_timesteps"] is True
    i2v = wan_engine.i2v_pipe
    assert i2v.transformer is wan_engine.pipe.transformer and i2v.vae is wan_engine.pipe.vae
    image = ImageInput(**write_image(tmp_path / "a.png", PARAMS.width, PARAMS.height, seed=1))
    frames = wan_engine.generate(dataclasses.replace(PARAMS, image=image), lambda *_: None)
    assert frames.shape == (9, 128, 128, 3)
    assert (i2v.transformer.dtype, i2v.text_encoder.dtype, i2v.vae.dtype) == (
        torch.bfloat16,
        torch.bfloat16,
        torch.float32,
    )


def test_flow_shift_is_the_official_5_unless_the_job_sets_it(wan_engine: Any, model_dir: Path) -> None:
    """The snapshot's scheduler file says 3.0 here; Wan2.2-TI2V-5B's own configuration runs 5.0."""
    import json

    assert json.loads((model_dir / "scheduler" / "scheduler_config.json").read_text())["flow_shift"] == 3.0
    steps: list[int] = []
    default = np.asarray(wan_engine.generate(PARAMS, lambda step, _total: steps.append(step)))
    assert steps == [1, 2, 3]
    assert wan_engine.pipe.scheduler.config.flow_shift == 5.0
    shifted = np.asarray(wan_engine.generate(dataclasses.replace(PARAMS, flow_shift=8.0), lambda *_: None))
    assert wan_engine.pipe.scheduler.config.flow_shift == 8.0
    again = np.asarray(wan_engine.generate(PARAMS, lambda *_: None))
    assert wan_engine.pipe.scheduler.config.flow_shift == 5.0
    assert default.shape == (9, 128, 128, 3)
    assert abs(default - again).max() == 0, "same seed, same params, same frames"
    assert abs(default - shifted).max() > 0, "flow_shift changes the sampling"


def test_the_official_defaults_and_negative_prompt(wan_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job without a negative prompt gets the model's (Wan2.2's reference one); a job's own, or
    "" for none, wins. The defaults live in one place: the engine's built-in profile."""
    from t2v_worker.profile import WAN_NEGATIVE_PROMPT, WAN_TI2V_5B

    profile = wan_engine.profile
    assert profile is WAN_TI2V_5B
    assert (profile.flow_shift, profile.guidance_scale.default, profile.num_inference_steps.default) == (
        5.0,
        5.0,
        50,
    )
    assert (profile.fps, profile.num_frames, profile.sizes[:2]) == (24, 121, ((1280, 704), (704, 1280)))
    seen: list[Any] = []
    encode = wan_engine.pipe.encode_prompt

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("negative_prompt"))
        return encode(*args, **kwargs)

    monkeypatch.setattr(wan_engine.pipe, "encode_prompt", spy)
    job = dataclasses.replace(PARAMS, num_inference_steps=1, num_frames=5, width=64, height=64)
    wan_engine.generate(dataclasses.replace(job, negative_prompt=None), lambda *_: None)
    wan_engine.generate(dataclasses.replace(job, negative_prompt="blurry"), lambda *_: None)
    wan_engine.generate(dataclasses.replace(job, negative_prompt=""), lambda *_: None)
    assert seen == [WAN_NEGATIVE_PROMPT, "blurry", ""]
    assert len(WAN_NEGATIVE_PROMPT) > 100


def test_a_profile_file_overrides_only_what_it_sets(model_dir: Path, tmp_path: Path) -> None:
    from t2v_worker.engines.wan import WanEngine
    from t2v_worker.profile import WAN_NEGATIVE_PROMPT

    path = tmp_path / "fast.json"
    path.write_text(
        '{"id": "fast", "num_inference_steps": {"min": 1, "max": 8, "default": 3}, "flow_shift": 8}'
    )
    engine = WanEngine(WorkerConfig(engine="wan", model_path=str(model_dir), model_profile=str(path)))
    engine.read_profile()
    p = engine.profile
    assert (p.id, p.num_inference_steps.default, p.flow_shift, p.source) == ("fast", 3, 8.0, str(path))
    assert (p.guidance_scale.default, p.fps, p.num_frames, p.negative_prompt) == (
        5.0,
        24,
        121,
        WAN_NEGATIVE_PROMPT,
    )


def test_worker_serves_the_directory(model_dir: Path, tmp_path: Path) -> None:
    worker = WorkerProcess(
        {"T2V_ENGINE": "wan", "T2V_MODEL_PATH": str(model_dir), "T2V_HEARTBEAT_INTERVAL_S": "30"}
    )
    try:
        ready = worker.next_event(timeout=180)
        assert ready["type"] == "ready", ready
        assert (ready["card"]["id"], ready["card"]["engine"], ready["device"]) == (
            "Wan2.2-TI2V-5B",
            "wan",
            "cpu",
        )
        worker.send(generate_request("wan_job", tmp_path, width=160, height=96, num_frames=9, flow_shift=4.0))
        _, done = worker.until_terminal("wan_job")
        assert done["type"] == "done", done
        info = ffprobe(done["path"])
        assert (
            info["codec_name"],
            info["pix_fmt"],
            info["width"],
            info["height"],
            info["nb_read_frames"],
        ) == (
            "h264",
            "yuv420p",
            160,
            96,
            9,
        )
    finally:
        assert worker.close() == 0
    assert worker.bad_lines == []


def test_cuda_requested_without_a_gpu_is_a_load_failure(model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    worker = WorkerProcess(
        {
            "T2V_ENGINE": "wan",
            "T2V_MODEL_PATH": str(model_dir),
            "T2V_WORKER_DEVICE": "cuda",
            "CUDA_VISIBLE_DEVICES": "",
            "T2V_HEARTBEAT_INTERVAL_S": "30",
        }
    )
    event = worker.next_event(timeout=120)
    assert event["code"] == "MODEL_LOAD_FAILED" and "no CUDA device" in event["message"]
    assert worker.proc.wait(timeout=60) != 0
