"""The model card: built once from each engine's description and its profile, valid under the
shared rules, printed by ``--card`` without loading anything."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from t2v_worker import protocol
from t2v_worker.config import load_config
from t2v_worker.engines import create_engine
from t2v_worker.engines.wan import WanEngine
from t2v_worker.engines.wan_tiny import WanTinyEngine
from worker_support import CARD_FIXTURES, WORKER_DIR


def _card(env: dict[str, str]) -> dict[str, object]:
    return create_engine(load_config(env)).card()


@pytest.mark.parametrize("engine", ["wan", "wan-tiny"])
def test_each_engine_card_is_valid_and_says_what_the_engine_checks(engine: str) -> None:
    card = _card({"T2V_ENGINE": engine, "T2V_MODEL_PATH": "/nowhere"})
    assert protocol.model_card_problem(card) is None
    cls = WanEngine if engine == "wan" else WanTinyEngine
    size, frames = card["size"], card["frames"]
    assert (size["max_side"], size["max_pixels"], frames["max"]) == (  # type: ignore[index]
        cls.limits.max_side,
        cls.limits.max_pixels,
        cls.limits.max_frames,
    )
    assert card["num_inference_steps"]["max"] == cls.limits.max_steps  # type: ignore[index]
    assert size["presets"][0] == "x".join(map(str, cls.default_profile.sizes[0]))  # type: ignore[index]


def _golden(why: str) -> dict[str, object]:
    lines = (CARD_FIXTURES / "valid.jsonl").read_text().splitlines()
    return next(c["card"] for c in map(json.loads, filter(None, lines)) if c["why"] == why)


def test_the_golden_cards_are_what_the_worker_builds() -> None:
    # The API's tests describe models from these fixtures: they must be the worker's own cards.
    assert _golden("wan as served by default") == _card({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/m"})
    assert _golden("wan-tiny") == _card({"T2V_ENGINE": "wan-tiny"})
    fp8 = {"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/m", "T2V_TRANSFORMER_WEIGHTS": "fp8"}
    assert _golden("wan with fp8 transformer weights") == _card(fp8)


def test_the_5b_card_is_its_720p_at_24_fps() -> None:
    card = _card({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/models/Wan2.2-TI2V-5B-Diffusers"})
    assert card["id"] == "Wan2.2-TI2V-5B"
    assert card["size"] == {  # type: ignore[comparison-overlap]
        "multiple": 32,
        "max_side": 1280,
        "max_pixels": 1280 * 704,
        "presets": ["1280x704", "704x1280", "832x480", "480x832"],
        "default": "1280x704",
    }
    assert card["frames"] == {"multiple": 4, "min": 5, "max": 121}
    assert (card["fps"]["default"], card["seconds"]["default"]) == (24, 5)  # type: ignore[index]


def test_the_5b_card_is_the_built_in_profile_with_nothing_copied() -> None:
    """Every default the card states comes from WAN_TI2V_5B: change the profile, the card follows."""
    from t2v_worker.profile import WAN_NEGATIVE_PROMPT, WAN_TI2V_5B

    card = _card({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/m"})
    assert (card["flow_shift"], card["negative_prompt"], card["profile"]) == (5, WAN_NEGATIVE_PROMPT, None)
    assert card["num_inference_steps"] == {"min": 1, "max": 100, "default": 50}
    assert card["guidance_scale"] == {"min": 0, "max": 20, "default": 5}
    other = dataclasses.replace(
        WAN_TI2V_5B, fps=16, num_frames=81, sizes=((832, 480), (480, 832)), negative_prompt="blurry"
    )
    engine = create_engine(load_config({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/m"}))
    engine.default_profile = other
    card = engine.card()
    assert (card["size"]["presets"], card["size"]["default"]) == (["832x480", "480x832"], "832x480")  # type: ignore[index]
    assert (card["fps"]["default"], card["seconds"]["default"], card["negative_prompt"]) == (  # type: ignore[index]
        16,
        5,
        "blurry",
    )
    assert engine.preset_shapes() == ((832, 480, 81), (480, 832, 81))


def test_a_profile_renames_the_model_and_sets_its_ranges(tmp_path: Path) -> None:
    profile = tmp_path / "t2v-profile.json"
    profile.write_text(
        json.dumps(
            {
                "id": "FastWan2.2-TI2V-5B",
                "description": "3 steps, no CFG",
                "num_inference_steps": {"min": 1, "max": 8, "default": 3},
                "guidance_scale": {"min": 0, "max": 1, "default": 1},
                "flow_shift": 8,
            }
        )
    )
    card = _card({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": str(tmp_path)})
    assert (card["id"], card["description"], card["flow_shift"], card["profile"]) == (
        "FastWan2.2-TI2V-5B",
        "3 steps, no CFG",
        8,
        str(profile),
    )
    assert card["num_inference_steps"] == {"min": 1, "max": 8, "default": 3}
    assert card["guidance_scale"] == {"min": 0, "max": 1, "default": 1}
    # What the file does not set is the built-in profile's.
    assert (card["fps"]["default"], card["size"]["default"]) == (24, "1280x704")  # type: ignore[index]
    assert card["negative_prompt"] == _card({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/m"})["negative_prompt"]


def test_the_card_says_how_the_worker_runs_the_model() -> None:
    card = _card(
        {
            "T2V_ENGINE": "wan-tiny",
            "T2V_CACHE": "first-block:0.1",
            "T2V_ATTENTION_BACKEND": "native",
            "T2V_LORAS": "style=/models/loras/style.safetensors",
        }
    )
    assert card["acceleration"] == {
        "compile": "off",
        "cache": "first-block:0.1",
        "attention": "native",
        "parallel": "off",
        "weights": "bf16",
    }
    assert card["loras"] == ["style"]


def test_preset_shapes_are_what_compiled_blocks_warm_up_for() -> None:
    engine = create_engine(
        load_config({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "/m", "T2V_COMPILE": "blocks"})
    )
    assert engine.preset_shapes() == (
        (1280, 704, 121),
        (704, 1280, 121),
        (832, 480, 121),
        (480, 832, 121),
    )


def _run_card(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t2v_worker", "--card"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(WORKER_DIR / "src"), **env},
    )


def test_card_flag_prints_the_card_without_importing_torch() -> None:
    # -X importtime lists every module imported: torch and diffusers must not be among them.
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "t2v_worker", "--card"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(WORKER_DIR / "src"), "T2V_ENGINE": "wan-tiny"},
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "t2v_worker.card" in imported
    assert not {"torch", "diffusers", "transformers"} & imported
    assert json.loads(proc.stdout) == _card({"T2V_ENGINE": "wan-tiny"})
    assert proc.stdout.count("\n") == 1


def test_card_flag_refuses_a_bad_setting_as_permanent(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"num_inference_steps": {"min": 5, "max": 1, "default": 3}}')
    proc = _run_card({"T2V_ENGINE": "wan-tiny", "T2V_MODEL_PROFILE": str(bad)})
    assert proc.returncode == protocol.EXIT_PERMANENT
    assert f"model profile {bad}: num_inference_steps needs min <= default <= max" in proc.stderr
    assert proc.stdout == ""
