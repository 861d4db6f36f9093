"""Model profiles: what a checkpoint wants by default and accepts, read from a small JSON file.

A step-distilled checkpoint (FastWan2.2-TI2V-5B: 3 steps, no CFG) has the architecture of the base
model but other defaults. The profile sits beside the weights (``<model>/t2v-profile.json``) or
where ``T2V_MODEL_PROFILE`` points. Only the worker reads it, over its engine's built-in profile
(``WAN_TI2V_5B`` here; ``WAN_TINY`` in ``engines/wan_tiny.py``): the result is the model card's
ranges and defaults (``card.py``), which is all the API knows of it. The golden fixtures are
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
    # Only in an engine's built-in profile (``WAN_TI2V_5B``, ``WAN_TINY``); a profile file cannot
    # set these.
    fps: int | None = None
    num_frames: int | None = None
    # Preset sizes (width, height), the default first.
    sizes: tuple[tuple[int, int], ...] = ()
    # Used when a job's negative_prompt is null; "" in a job means none.
    negative_prompt: str | None = None

    def over(self, base: ModelProfile | None) -> ModelProfile:
        """This profile (a file) over ``base`` (the engine's built-in one): each field the file
        sets wins, the rest comes from the base."""
        if base is None:
            return self
        return ModelProfile(
            id=self.id or base.id,
            description=self.description or base.description,
            num_inference_steps=self.num_inference_steps or base.num_inference_steps,
            guidance_scale=self.guidance_scale or base.guidance_scale,
            flow_shift=self.flow_shift if self.flow_shift is not None else base.flow_shift,
            source=self.source,
            fps=self.fps or base.fps,
            num_frames=self.num_frames or base.num_frames,
            sizes=self.sizes or base.sizes,
            negative_prompt=self.negative_prompt
            if self.negative_prompt is not None
            else base.negative_prompt,
        )


# The negative prompt of Wan2.2's reference configuration (its text encoder, UMT5, was trained
# with Chinese and English text). In English: garish colours, overexposed, static, blurred
# details, subtitles, style, artwork, painting, still frame, overall greyish, worst quality, low
# quality, JPEG artefacts, ugly, mutilated, extra fingers, badly drawn hands, badly drawn face,
# deformed, disfigured, malformed limbs, fused fingers, motionless picture, cluttered background,
# three legs, many people in the background, walking backwards.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)

# Wan2.2-TI2V-5B as its own inference configuration runs it: flow shift 5, guidance 5, 50 steps,
# 121 frames at 24 fps (5 s), 1280×704 or 704×1280, and the negative prompt above. The flow shift
# is set here rather than taken from the snapshot's scheduler file, which need not say 5.
WAN_TI2V_5B = ModelProfile(
    id=None,
    description=None,
    num_inference_steps=Range(min=1, max=100, default=50),
    guidance_scale=Range(min=0, max=20, default=5.0),
    flow_shift=5.0,
    source="built-in (Wan2.2-TI2V-5B)",
    fps=24,
    num_frames=121,
    sizes=((1280, 704), (704, 1280), (832, 480), (480, 832)),
    negative_prompt=WAN_NEGATIVE_PROMPT,
)


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
