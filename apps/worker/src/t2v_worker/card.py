"""The model card: what a loaded model accepts and defaults to, owned by the worker.

Built from the engine's single description of its model (``info``, ``limits``, ``presets``), the
model profile in effect and how the worker runs it (compile, step cache, attention, parallel,
adapters). It travels in ``ready``; the API validates, snaps and documents requests from it and
keeps no copy of these values (docs/adr/0065-gpu-tier-roles-and-the-model-card.md). ``python -m
t2v_worker --card`` prints it without loading anything (no torch import), for an API that has no
worker of its own yet. The shape and its rules are ``libs/contracts/src/card.ts``; both suites read
the golden fixtures in ``libs/contracts/fixtures/card``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .params import SIZE_MULTIPLE, TEMPORAL_MULTIPLE, frames_for_seconds
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
class Presets:
    """What a request that leaves a field out gets, and the tested sizes (largest first by use)."""

    sizes: tuple[tuple[int, int], ...]
    default_size: tuple[int, int]
    fps: Range
    seconds: Range
    num_inference_steps: int
    guidance_scale: Range

    def default_frames(self) -> int:
        """Frames of a request that gives no duration: the default seconds at the default fps."""
        return frames_for_seconds(self.seconds.default, int(self.fps.default))


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
    info, limits, presets, config = engine.info, engine.limits, engine.presets, engine.config
    profile = engine.profile
    steps = Range(min=1, max=limits.max_steps, default=presets.num_inference_steps)
    guidance = presets.guidance_scale
    if profile is not None:
        steps = profile.num_inference_steps or steps
        guidance = profile.guidance_scale or guidance
    return {
        "id": (profile and profile.id) or info.id,
        "engine": engine.name,
        "description": (profile and profile.description) or info.description,
        "owned_by": info.owned_by,
        "created": info.created,
        "inputs": list(inputs),
        "size": {
            "multiple": SIZE_MULTIPLE,
            "max_side": limits.max_side,
            "max_pixels": limits.max_pixels,
            "presets": [size_name(s) for s in presets.sizes],
            "default": size_name(presets.default_size),
        },
        "frames": {"multiple": TEMPORAL_MULTIPLE, "min": limits.min_frames, "max": limits.max_frames},
        "fps": _range(presets.fps),
        "seconds": _range(presets.seconds),
        "num_inference_steps": _range(steps),
        "guidance_scale": _range(guidance),
        "flow_shift": profile.flow_shift if profile is not None else None,
        "negative_prompt": None,
        "max_prompt_chars": limits.max_prompt_chars,
        "loras": list(loras),
        "acceleration": {
            "compile": config.compile,
            "cache": str(config.cache),
            "attention": config.attention_backend,
            "parallel": str(config.parallel),
        },
        "profile": profile.source if profile is not None and profile.source else None,
    }
