"""Engine parameter handling: sizes, 4k+1 frame counts, seconds → frames, engine limits."""

from __future__ import annotations

import dataclasses
import re

import pytest

from t2v_worker.config import ConfigError, load_config
from t2v_worker.engines.wan import WanEngine
from t2v_worker.engines.wan_tiny import WanTinyEngine
from t2v_worker.errors import InvalidParams
from t2v_worker.params import GenerateParams, frames_for_seconds, validate

BASE = GenerateParams(
    prompt="a cat",
    negative_prompt=None,
    width=128,
    height=128,
    num_frames=17,
    fps=8,
    num_inference_steps=4,
    guidance_scale=5.0,
    seed=0,
    flow_shift=None,
)


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [(5, 24, 121), (4, 24, 97), (1, 8, 9), (2, 16, 33), (2.1, 8, 17), (0.1, 8, 1), (10, 24, 241)],
)
def test_seconds_to_frames(seconds: float, fps: int, frames: int) -> None:
    assert frames_for_seconds(seconds, fps) == frames
    assert (frames - 1) % 4 == 0


def test_seconds_to_frames_rejects_non_positive() -> None:
    with pytest.raises(InvalidParams):
        frames_for_seconds(0, 24)
    with pytest.raises(InvalidParams):
        frames_for_seconds(5, 0)


def test_presets_of_the_5b_model() -> None:
    defaults = WanEngine.default_profile
    assert (defaults.sizes[0], defaults.num_frames, defaults.fps) == ((1280, 704), 121, 24)
    assert frames_for_seconds(5, 24) == defaults.num_frames
    # Every preset size at the default length is within the engine's own limits.
    for width, height in defaults.sizes:
        validate(
            dataclasses.replace(BASE, width=width, height=height, num_frames=121, num_inference_steps=50),
            WanEngine.limits,
        )


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"width": 130}, "width 130 is not a multiple of 32"),
        ({"height": 100}, "height 100 is not a multiple of 32"),
        ({"width": 1312}, "width 1312 is outside 32..1280"),
        ({"width": 1280, "height": 1280}, "exceeds 901120 pixels"),
        ({"num_frames": 16}, "num_frames 16 is not 4k+1"),
        ({"num_frames": 125}, "num_frames 125 is outside 5..121"),
        ({"num_frames": 1}, "num_frames 1 is outside 5..121"),
        ({"num_inference_steps": 101}, "num_inference_steps 101 is outside 1..100"),
        ({"prompt": "   "}, "prompt is blank"),
        ({"flow_shift": 0.0}, "flow_shift 0.0 must be greater than 0"),
    ],
)
def test_wan_limits(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidParams, match=re.escape(fragment)) as err:
        validate(dataclasses.replace(BASE, **change), WanEngine.limits)
    assert err.value.code == "INVALID_PARAMS"


def test_all_problems_are_named_at_once() -> None:
    with pytest.raises(InvalidParams) as err:
        validate(dataclasses.replace(BASE, width=100, num_frames=18), WanEngine.limits)
    assert "width" in str(err.value) and "num_frames" in str(err.value)


def test_tiny_limits_keep_ci_jobs_small() -> None:
    validate(dataclasses.replace(BASE, width=512, height=256, num_frames=65), WanTinyEngine.limits)
    with pytest.raises(InvalidParams, match="width 544"):
        validate(dataclasses.replace(BASE, width=544), WanTinyEngine.limits)
    with pytest.raises(InvalidParams, match="num_frames 69 is outside 5..65"):
        validate(dataclasses.replace(BASE, num_frames=69), WanTinyEngine.limits)


def test_from_wire_normalises_numbers() -> None:
    params = GenerateParams.from_wire(
        {
            "prompt": "p",
            "negative_prompt": "blurry",
            "width": 128.0,
            "height": 96,
            "num_frames": 17,
            "fps": 8,
            "num_inference_steps": 4,
            "guidance_scale": 5,
            "seed": 3,
            "flow_shift": 3,
            "acceleration": "none",
        }
    )
    assert params.acceleration == "none"
    assert params.width == 128 and isinstance(params.width, int)
    assert params.guidance_scale == 5.0 and isinstance(params.guidance_scale, float)
    assert params.flow_shift == 3.0


def test_config_defaults_and_values() -> None:
    config = load_config({})
    assert (config.engine, config.device, config.cpu_offload, config.heartbeat_interval_s) == (
        "wan-tiny",
        "cpu",
        "none",
        5.0,
    )
    config = load_config(
        {
            "T2V_ENGINE": "wan",
            "T2V_MODEL_PATH": "/models/wan",
            "T2V_WORKER_DEVICE": "cuda",
            "T2V_CPU_OFFLOAD": "model",
            "T2V_VAE_TILING": "true",
            "T2V_HEARTBEAT_INTERVAL_S": "2.5",
            "T2V_WARMUP": "false",
            "T2V_FFMPEG": "/usr/bin/ffmpeg",
        }
    )
    assert config.vae_tiling is True and config.heartbeat_interval_s == 2.5
    assert config.model_path == "/models/wan" and config.cpu_offload == "model"


def test_decode_and_weights_config() -> None:
    config = load_config({})
    assert (config.stream_decode, config.vae_decode_budget_mib, config.transformer_weights) == (
        True,
        None,
        "bf16",
    )
    config = load_config(
        {"T2V_STREAM_DECODE": "false", "T2V_VAE_DECODE_BUDGET_MIB": "6000", "T2V_TRANSFORMER_WEIGHTS": "fp8"}
    )
    assert (config.stream_decode, config.vae_decode_budget_mib, config.transformer_weights) == (
        False,
        6000,
        "fp8",
    )
    assert load_config({"T2V_VAE_DECODE_BUDGET_MIB": "auto"}).vae_decode_budget_mib is None


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"T2V_ENGINE": "synthetic"}, "T2V_ENGINE"),
        ({"T2V_ENGINE": "wan"}, "T2V_MODEL_PATH"),
        ({"T2V_WORKER_DEVICE": "tpu"}, "T2V_WORKER_DEVICE"),
        ({"T2V_CPU_OFFLOAD": "all"}, "T2V_CPU_OFFLOAD"),
        ({"T2V_VAE_TILING": "maybe"}, "T2V_VAE_TILING"),
        ({"T2V_HEARTBEAT_INTERVAL_S": "0"}, "T2V_HEARTBEAT_INTERVAL_S"),
        ({"T2V_WARMUP": "2"}, "T2V_WARMUP"),
        ({"T2V_COMPILE": "max-autotune"}, "T2V_COMPILE"),
        ({"T2V_CACHE": "first-block"}, "T2V_CACHE"),
        ({"T2V_CACHE": "first-block:0"}, "T2V_CACHE"),
        ({"T2V_CACHE": "first-block:2"}, "T2V_CACHE"),
        ({"T2V_CACHE": "taylorseer:4"}, "T2V_CACHE"),
        ({"T2V_WARMUP_SHAPES": "1280x704"}, "T2V_WARMUP_SHAPES"),
        ({"T2V_STREAM_DECODE": "sometimes"}, "T2V_STREAM_DECODE"),
        ({"T2V_VAE_DECODE_BUDGET_MIB": "0"}, "T2V_VAE_DECODE_BUDGET_MIB"),
        ({"T2V_VAE_DECODE_BUDGET_MIB": "8GB"}, "T2V_VAE_DECODE_BUDGET_MIB"),
        ({"T2V_TRANSFORMER_WEIGHTS": "int4"}, "T2V_TRANSFORMER_WEIGHTS"),
    ],
)
def test_bad_config_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(env)


def test_acceleration_config() -> None:
    config = load_config({})
    assert (config.compile, str(config.cache), config.model_profile, config.warmup_shapes) == (
        "off",
        "off",
        None,
        (),
    )
    config = load_config(
        {
            "T2V_COMPILE": "blocks",
            "T2V_CACHE": "first-block:0.05",
            "T2V_MODEL_PROFILE": "/models/fast/t2v-profile.json",
            "T2V_WARMUP_SHAPES": "1280x704x121, 704x1280x121",
        }
    )
    assert config.compile == "blocks" and config.cache.threshold == 0.05
    assert str(config.cache) == "first-block:0.05"
    assert config.model_profile == "/models/fast/t2v-profile.json"
    assert config.warmup_shapes == ((1280, 704, 121), (704, 1280, 121))
