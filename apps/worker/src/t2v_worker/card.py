"""The model card: what a loaded model accepts and defaults to, owned by the worker.

Built from the engine's single description of its model (``info``, ``limits``, ``ranges``), the
profile in effect (the engine's built-in ``default_profile`` with a profile file's fields over it:
every default, from the sizes to the negative prompt) and how the worker runs it (compile, step
cache, attention, parallel, adapters). It travels in ``ready``; the API validates, snaps and
documents requests from it and keeps no copy of these values
(docs/adr/0065-gpu-tier-roles-and-the-model-card.md). ``python -m t2v_worker --card`` prints it
without loading anything (no torch import), for an API that has no worker of its own yet. The
shape and its rules are ``libs/contracts/src/card.ts``; both suites read the golden fixtures in
``libs/contracts/fixtures/card``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .params import SIZE_MULTIPLE, TEMPORAL_MULTIPLE
from .profile import Range

if TYPE_CHECKING:
    from .engines.base import Engine


@dataclass(frozen=True)
class ModelInfo:
    """Who the model is: the id requests name (a profile may rename it) and its listing metadata."""

    id: str
    description: str
    owned_by: str
    # Unix seconds; fixed per model so listings are stable.
    created: int


@dataclass(frozen=True)
class Ranges:
    """How far a request may move the frame rate and the length (min, max): the bounds a card
    states that the profile does not. Their defaults are the profile's (``fps``, ``num_frames``)."""

    fps: tuple[int, int]
    seconds: tuple[float, float]


def size_name(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _range(r: Range) -> dict[str, float | int]:
    return {"min": _number(r.min), "max": _number(r.max), "default": _number(r.default)}


def model_card(engine: Engine, inputs: Sequence[str], loras: Sequence[str]) -> dict[str, Any]:
    """The card of ``engine``'s model as the worker runs it, with the profile's id, ranges and defaults.

    ``inputs`` and ``loras`` are what the loaded pipeline takes (before loading: what it is
    configured to take).
    """
    info, limits, ranges, config = engine.info, engine.limits, engine.ranges, engine.config
    profile = engine.defaults()
    fps, frames, sizes = profile.fps, profile.num_frames, profile.sizes
    steps, guidance = profile.num_inference_steps, profile.guidance_scale
    if not (fps and frames and sizes and steps and guidance):
        raise ValueError(
            f"engine {engine.name}: its built-in profile must set fps, num_frames, sizes, "
            "num_inference_steps and guidance_scale"
        )
    return {
        "id": profile.id or info.id,
        "engine": engine.name,
        "description": profile.description or info.description,
        "owned_by": info.owned_by,
        "created": info.created,
        "inputs": list(inputs),
        "size": {
            "multiple": SIZE_MULTIPLE,
            "max_side": limits.max_side,
            "max_pixels": limits.max_pixels,
            "presets": [size_name(s) for s in sizes],
            "default": size_name(sizes[0]),
        },
        "frames": {"multiple": TEMPORAL_MULTIPLE, "min": limits.min_frames, "max": limits.max_frames},
        "fps": _range(Range(min=ranges.fps[0], max=ranges.fps[1], default=fps)),
        # A clip's length is its frame intervals (121 frames at 24 fps: 5 s), as the API counts it.
        "seconds": _range(Range(min=ranges.seconds[0], max=ranges.seconds[1], default=(frames - 1) / fps)),
        "num_inference_steps": _range(steps),
        "guidance_scale": _range(guidance),
        "flow_shift": None if profile.flow_shift is None else _number(profile.flow_shift),
        "negative_prompt": profile.negative_prompt,
        "max_prompt_chars": limits.max_prompt_chars,
        "loras": list(loras),
        "acceleration": {
            "compile": config.compile,
            "cache": str(config.cache),
            "attention": config.attention_backend,
            "parallel": str(config.parallel),
            "weights": config.transformer_weights,
        },
        # The profile file in effect; null when the engine's built-in one is all there is.
        "profile": None if profile is engine.default_profile else profile.source or None,
    }
