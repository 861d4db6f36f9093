"""Model profiles: the golden fixtures shared with libs/contracts, and how a profile is found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from t2v_worker.profile import PROFILE_FILE, ProfileError, load_profile, parse_profile, profile_path
from worker_support import REPO

FIXTURES = REPO / "libs" / "contracts" / "fixtures" / "profile"


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", _lines("valid.jsonl"), ids=lambda c: json.dumps(c["profile"])[:60])
def test_accepts_the_valid_fixtures(case: dict[str, Any]) -> None:
    raw = case["profile"]
    profile = parse_profile(raw)
    assert profile.id == raw.get("id")
    steps = raw.get("num_inference_steps")
    assert (profile.num_inference_steps and vars(profile.num_inference_steps)) == (steps or None)
    guidance = raw.get("guidance_scale")
    assert (profile.guidance_scale and vars(profile.guidance_scale)) == (guidance or None)
    assert profile.flow_shift == raw.get("flow_shift")


@pytest.mark.parametrize("case", _lines("invalid.jsonl"), ids=lambda c: c["error"][:60])
def test_rejects_the_invalid_fixtures_with_the_same_message_as_typescript(case: dict[str, Any]) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(case["raw"])
    assert str(info.value) == case["error"]


def test_the_file_beside_the_weights_is_found_and_an_explicit_path_wins(tmp_path: Path) -> None:
    assert profile_path(str(tmp_path), None) is None
    (tmp_path / PROFILE_FILE).write_text('{"num_inference_steps":{"min":1,"max":8,"default":3}}')
    assert profile_path(str(tmp_path), None) == str(tmp_path / PROFILE_FILE)
    assert profile_path(str(tmp_path), "/elsewhere.json") == "/elsewhere.json"
    assert load_profile(str(tmp_path / PROFILE_FILE)).num_inference_steps.default == 3


def test_a_broken_file_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match=f"model profile {bad}: not JSON"):
        load_profile(str(bad))
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(str(tmp_path / "missing.json"))
    bad.write_text('{"guidance_scale":{"min":0,"max":1,"default":2}}')
    with pytest.raises(
        ProfileError, match=f"model profile {bad}: guidance_scale needs min <= default <= max"
    ):
        load_profile(str(bad))
