"""Generation parameters as the engines see them: validated limits, presets, seconds → frames.

The API resolves sizes and frame counts before a job reaches the worker; the worker still checks
what the model itself requires, so a bad request is an ``INVALID_PARAMS`` error, never a silently
resized video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidParams

# The Wan 2.2 VAE compresses 16× in space and the transformer patches 2×2 on top: 32 px a token.
SIZE_MULTIPLE = 32
# The VAE compresses 4× in time and keeps the first frame: 4k+1 frames.
TEMPORAL_MULTIPLE = 4


@dataclass(frozen=True)
class EngineLimits:
    """What one engine accepts (its card's limits). Anything outside is INVALID_PARAMS."""

    max_side: int
    max_pixels: int
    max_frames: int
    max_steps: int
    max_prompt_chars: int = 4000
    min_frames: int = 5


@dataclass(frozen=True)
class ImageInput:
    """The API's fitted conditioning image: a PNG at exactly the job's width×height."""

    path: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class LoraChoice:
    name: str
    scale: float


@dataclass(frozen=True)
class GenerateParams:
    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    num_frames: int
    fps: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    flow_shift: float | None
    # "auto": the configured step cache applies; "none": every step computed in full.
    acceleration: str = "auto"
    # Image-to-video when set.
    image: ImageInput | None = None
    # Adapters for this job only, in order.
    loras: tuple[LoraChoice, ...] = ()

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> GenerateParams:
        """From an already shape-checked ``params`` object (``protocol.parse_request``)."""
        return cls(
            prompt=raw["prompt"],
            negative_prompt=raw["negative_prompt"],
            width=int(raw["width"]),
            height=int(raw["height"]),
            num_frames=int(raw["num_frames"]),
            fps=int(raw["fps"]),
            num_inference_steps=int(raw["num_inference_steps"]),
            guidance_scale=float(raw["guidance_scale"]),
            seed=int(raw["seed"]),
            flow_shift=None if raw["flow_shift"] is None else float(raw["flow_shift"]),
            acceleration=raw["acceleration"],
            image=None
            if raw.get("image") is None
            else ImageInput(
                path=raw["image"]["path"],
                sha256=raw["image"]["sha256"],
                width=int(raw["image"]["width"]),
                height=int(raw["image"]["height"]),
            ),
            loras=tuple(LoraChoice(name=x["name"], scale=float(x["scale"])) for x in raw.get("loras", ())),
        )


def frames_for_seconds(seconds: float, fps: int) -> int:
    """Nearest 4k+1 frame count for a duration: 5 s at 24 fps → 121, 1 s at 8 fps → 9."""
    if seconds <= 0 or fps <= 0:
        raise InvalidParams(f"seconds ({seconds}) and fps ({fps}) must be positive")
    k = round(seconds * fps / TEMPORAL_MULTIPLE)
    return max(k, 0) * TEMPORAL_MULTIPLE + 1


def tokens_for(width: int, height: int, num_frames: int) -> int:
    """Video tokens of one transformer pass: latent frames × (H/32) × (W/32). 1280×704×121 is
    31 × 22 × 40 = 27 280; 832×480×121 is 12 090. The blocks' compiled graph depends on this
    count only."""
    latent_frames = (num_frames - 1) // TEMPORAL_MULTIPLE + 1
    return latent_frames * (height // SIZE_MULTIPLE) * (width // SIZE_MULTIPLE)


def validate(params: GenerateParams, limits: EngineLimits) -> None:
    """Raises InvalidParams naming the first field the engine cannot honour."""
    problems: list[str] = []
    for name, value in (("width", params.width), ("height", params.height)):
        if value % SIZE_MULTIPLE != 0:
            problems.append(f"{name} {value} is not a multiple of {SIZE_MULTIPLE}")
        elif not SIZE_MULTIPLE <= value <= limits.max_side:
            problems.append(f"{name} {value} is outside {SIZE_MULTIPLE}..{limits.max_side}")
    if params.width * params.height > limits.max_pixels:
        problems.append(f"size {params.width}x{params.height} exceeds {limits.max_pixels} pixels per frame")
    if (params.num_frames - 1) % TEMPORAL_MULTIPLE != 0 or params.num_frames < 1:
        problems.append(f"num_frames {params.num_frames} is not 4k+1")
    elif not limits.min_frames <= params.num_frames <= limits.max_frames:
        problems.append(f"num_frames {params.num_frames} is outside {limits.min_frames}..{limits.max_frames}")
    if not 1 <= params.num_inference_steps <= limits.max_steps:
        problems.append(f"num_inference_steps {params.num_inference_steps} is outside 1..{limits.max_steps}")
    if not params.prompt.strip():
        problems.append("prompt is blank")
    elif len(params.prompt) > limits.max_prompt_chars:
        problems.append(f"prompt is longer than {limits.max_prompt_chars} characters")
    if params.flow_shift is not None and not params.flow_shift > 0:
        problems.append(f"flow_shift {params.flow_shift} must be greater than 0")
    if problems:
        raise InvalidParams("; ".join(problems))
