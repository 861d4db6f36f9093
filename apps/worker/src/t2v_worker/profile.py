"""Model profiles: what a checkpoint wants by default and accepts, read from a small JSON file.

A step-distilled checkpoint (FastWan2.2-TI2V-5B: 3 steps, no CFG) has the architecture of the base
model but other defaults. The profile sits beside the weights (``<model>/t2v-profile.json``) or
where ``T2V_MODEL_PROFILE`` points; the API reads the same file for ``/v1/models`` and request
validation, the worker for its own checks and the scheduler's flow shift. The format is shared
with ``libs/contracts/src/profile.ts``; both read the golden fixtures in
``libs/contracts/fixtures/profile``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any

PROFILE_FILE = "t2v-profile.json"
FIELDS = ("id", "description", "num_inference_steps", "guidance_scale", "flow_shift")
MAX_STEPS = 1000
MAX_GUIDANCE = 100.0


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Range:
    min: float
    max: float
    default: float


@dataclass(frozen=True)
class ModelProfile:
    id: str | None
    description: str | None
    num_inference_steps: Range | None
    guidance_scale: Range | None
    flow_shift: float | None
    source: str = ""


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _range(value: Any, field: str, integer: bool, lo: float, hi: float) -> Range:
    if not isinstance(value, dict) or set(value) != {"min", "max", "default"}:
        raise ProfileError(f"{field} must be an object with exactly min, max and default")
    for key in ("min", "max", "default"):
        v = value[key]
        if not _number(v) or (integer and not float(v).is_integer()):
            kind = "an integer" if integer else "a number"
            raise ProfileError(f"{field}.{key} must be {kind}")
        if not lo <= v <= hi:
            raise ProfileError(f"{field}.{key} {v} is outside {lo:g}..{hi:g}")
    if not value["min"] <= value["default"] <= value["max"]:
        raise ProfileError(f"{field} needs min <= default <= max")
    return Range(min=value["min"], max=value["max"], default=value["default"])


def parse_profile(raw: Any, source: str = "") -> ModelProfile:
    """Validates a decoded profile. Unknown fields are refused, as a typo would be silently ignored."""
    if not isinstance(raw, dict):
        raise ProfileError("a profile is a JSON object")
    for key in raw:
        if key not in FIELDS:
            raise ProfileError(f'unknown field "{key}" (accepted: {", ".join(FIELDS)})')
    for key in ("id", "description"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            raise ProfileError(f"{key} must be a non-empty string")
    if "id" in raw and not re.fullmatch(r"[A-Za-z0-9._-]+", raw["id"]):
        raise ProfileError("id may hold only letters, digits, '.', '_' and '-'")
    steps = (
        _range(raw["num_inference_steps"], "num_inference_steps", True, 1, MAX_STEPS)
        if "num_inference_steps" in raw
        else None
    )
    guidance = (
        _range(raw["guidance_scale"], "guidance_scale", False, 0, MAX_GUIDANCE)
        if "guidance_scale" in raw
        else None
    )
    flow_shift = raw.get("flow_shift")
    if flow_shift is not None and not (_number(flow_shift) and 0 < flow_shift <= 100):
        raise ProfileError("flow_shift must be a number in (0, 100]")
    return ModelProfile(
        id=raw.get("id"),
        description=raw.get("description"),
        num_inference_steps=steps,
        guidance_scale=guidance,
        flow_shift=None if flow_shift is None else float(flow_shift),
        source=source,
    )


def profile_path(model_path: str | None, explicit: str | None) -> str | None:
    """``T2V_MODEL_PROFILE`` when set (it must exist), else the file beside the weights if present."""
    if explicit:
        return explicit
    if model_path:
        candidate = os.path.join(model_path, PROFILE_FILE)
        if os.path.isfile(candidate):
            return candidate
    return None


def load_profile(path: str) -> ModelProfile:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise ProfileError(f"model profile {path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ProfileError(f"model profile {path}: not JSON: {exc}") from exc
    try:
        return parse_profile(raw, path)
    except ProfileError as exc:
        raise ProfileError(f"model profile {path}: {exc}") from exc
