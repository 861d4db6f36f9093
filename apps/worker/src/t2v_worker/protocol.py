"""Worker protocol: the Python twin of ``libs/contracts/src/protocol.ts``.

JSON lines. Requests arrive on stdin, events leave on stdout. Validation is as strict as the
TypeScript side: unknown types and fields are rejected, integers must be integers (``17.0`` is
one, as in JavaScript; ``true`` is not), ``num_frames`` is 4k+1. Both suites read the same golden
fixtures in ``libs/contracts/fixtures/protocol``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .params import GenerateParams

# T2V_TRANSFORMER_WEIGHTS: the transformer blocks' linear weights as the checkpoint has them (bf16;
# float32 on a CPU) or torchao float8 (docs/adr/0087-fp8-transformer-weights.md).
TRANSFORMER_WEIGHTS = ("bf16", "fp8")

PROTOCOL_VERSION = 4

EXIT_PERMANENT = 78
"""Exit status after a load failure that retrying cannot heal (sysexits' EX_CONFIG): the
supervisor reports it once and does not restart the worker. Any other non-zero status before
``ready`` is retried with backoff. Same value as ``WORKER_EXIT_PERMANENT`` in protocol.ts."""

ACCELERATION_MODES = ("auto", "none")

WORKER_ERROR_CODES = (
    "CANCELLED",
    "INVALID_PARAMS",
    "GPU_OOM",
    "ENGINE_ERROR",
    "MODEL_LOAD_FAILED",
    "STORAGE_ERROR",
)

Check = Callable[[Any], bool]


class ProtocolError(ValueError):
    """A line that is not a valid protocol message. ``str(err)`` matches the TS parser's reason.

    ``job_id`` names the job of a ``generate`` that was decoded far enough to tell (so it can be
    answered), else None.
    """

    def __init__(self, reason: str, job_id: str | None = None) -> None:
        super().__init__(reason)
        self.job_id = job_id


@dataclass(frozen=True)
class GenerateRequest:
    job_id: str
    params: GenerateParams
    out_path: str
    thumbnail_path: str


@dataclass(frozen=True)
class CancelRequest:
    job_id: str


@dataclass(frozen=True)
class ShutdownRequest:
    pass


Request = GenerateRequest | CancelRequest | ShutdownRequest


def _is_number(v: Any) -> bool:
    # bool is an int subclass in Python; JSON true/false are never numbers on the wire.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_integer(v: Any) -> bool:
    return _is_number(v) and float(v).is_integer()


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _non_empty(v: Any) -> bool:
    return isinstance(v, str) and len(v) > 0


def _num(v: Any) -> bool:
    return _is_number(v)


def _non_neg_num(v: Any) -> bool:
    return _is_number(v) and v >= 0


def _pos_int(v: Any) -> bool:
    return _is_integer(v) and v > 0


def _non_neg_int(v: Any) -> bool:
    return _is_integer(v) and v >= 0


def _nullable(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _one_of(values: tuple[str, ...]) -> Check:
    return lambda v: isinstance(v, str) and v in values


def _obj(shape: Mapping[str, Check]) -> Check:
    return lambda v: check_shape(v, shape) is None


def _array_of(check: Check) -> Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
PREVIEW_MIMES = ("image/webp", "image/jpeg")
MAX_PREVIEW_BYTES = 256 * 1024
"""A preview's largest size on the wire, before base64 (``MAX_PREVIEW_BYTES`` in protocol.ts)."""


def _preview_data(v: Any) -> bool:
    return (
        isinstance(v, str)
        and 0 < len(v) <= 4 * ((MAX_PREVIEW_BYTES + 2) // 3)
        and len(v) % 4 == 0
        and _BASE64.fullmatch(v) is not None
    )


def _abs_path(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("/")


def _sha256_hex(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None


def is_frame_count(v: Any) -> bool:
    """Frame counts the Wan VAE accepts: 4k+1 (1, 5, 9, …, 121)."""
    return _pos_int(v) and (int(v) - 1) % 4 == 0


def check_shape(v: Any, shape: Mapping[str, Check]) -> str | None:
    """None when ``v`` has exactly the keys of ``shape``, each passing its check; else why not."""
    if not isinstance(v, dict):
        return "not an object"
    for key in v:
        if key not in shape:
            return f'unexpected field "{key}"'
    for key, check in shape.items():
        if key not in v:
            return f'missing field "{key}"'
        if not check(v[key]):
            return f'invalid field "{key}"'
    return None


PARAMS_SHAPE: dict[str, Check] = {
    "prompt": _non_empty,
    "negative_prompt": _nullable(_str),
    "width": _pos_int,
    "height": _pos_int,
    "num_frames": is_frame_count,
    "fps": _pos_int,
    "num_inference_steps": _pos_int,
    "guidance_scale": _non_neg_num,
    "seed": _non_neg_int,
    "flow_shift": _nullable(_num),
    "acceleration": _one_of(ACCELERATION_MODES),
    # Image-to-video: the API's fitted PNG at exactly width×height (a path, never bytes).
    "image": _nullable(
        _obj({"path": _abs_path, "sha256": _sha256_hex, "width": _pos_int, "height": _pos_int})
    ),
    # LoRA adapters for this job only, by the names loaded at start.
    "loras": _array_of(_obj({"name": _non_empty, "scale": _num})),
    # Live previews of this job (``preview`` events) unless the request turned them off.
    "preview": _bool,
}

# What produced a finished video: the step cache and compile mode in effect, the attention backend,
# and the transformer passes computed against those a plain run computes (steps × 2 with CFG).
ACCELERATION_SHAPE: dict[str, Check] = {
    "cache": _non_empty,
    "compile": _non_empty,
    "attention": _nullable(_non_empty),
    "passes": _nullable(_non_neg_int),
    "planned_passes": _nullable(_non_neg_int),
    # The transformer's weights (T2V_TRANSFORMER_WEIGHTS); null for an engine without one.
    "weights": _nullable(_one_of(TRANSFORMER_WEIGHTS)),
}

_RANGE = _obj({"min": _num, "max": _num, "default": _num})
MODEL_INPUTS = ("text", "image")

# The model card (``card.py`` builds it; ``libs/contracts/src/card.ts`` is the twin).
CARD_SHAPE: dict[str, Check] = {
    "id": _non_empty,
    "engine": _non_empty,
    "description": _str,
    "owned_by": _non_empty,
    "created": _non_neg_int,
    "inputs": _array_of(_one_of(MODEL_INPUTS)),
    "size": _obj(
        {
            "multiple": _pos_int,
            "max_side": _pos_int,
            "max_pixels": _pos_int,
            "presets": _array_of(_non_empty),
            "default": _non_empty,
        }
    ),
    "frames": _obj({"multiple": _pos_int, "min": _pos_int, "max": _pos_int}),
    "fps": _RANGE,
    "seconds": _RANGE,
    "num_inference_steps": _RANGE,
    "guidance_scale": _RANGE,
    "flow_shift": _nullable(_num),
    "negative_prompt": _nullable(_str),
    "max_prompt_chars": _pos_int,
    "loras": _array_of(_non_empty),
    "acceleration": _obj(
        {
            "compile": _non_empty,
            "cache": _non_empty,
            "attention": _nullable(_non_empty),
            "parallel": _non_empty,
            "weights": _nullable(_one_of(TRANSFORMER_WEIGHTS)),
        }
    ),
    "profile": _nullable(_non_empty),
}

_CARD_ID = re.compile(r"[A-Za-z0-9][\w.:-]{0,127}")
_SIZE = re.compile(r"(\d+)x(\d+)")


def _range_problem(name: str, r: Mapping[str, Any], integer: bool, floor: float) -> str | None:
    if integer and not all(_is_integer(r[k]) for k in ("min", "max", "default")):
        return f"{name}: min, max and default must be integers"
    if r["min"] < floor:
        return f"{name}.min must be at least {floor:g}"
    if not r["min"] <= r["default"] <= r["max"]:
        return f"{name} needs min <= default <= max"
    return None


def card_problem(card: Mapping[str, Any]) -> str | None:
    """The rules across a shape-valid card's fields (``cardProblem`` in card.ts); None when it holds."""
    if not _CARD_ID.fullmatch(card["id"]):
        return f"id {json.dumps(card['id'])} is not a model id"
    if "text" not in card["inputs"]:
        return "inputs must include text"
    if len(set(card["inputs"])) != len(card["inputs"]):
        return "inputs are listed twice"
    size = card["size"]
    multiple = size["multiple"]
    if size["max_side"] < multiple:
        return "size.max_side is smaller than size.multiple"
    if size["max_pixels"] < multiple * multiple:
        return "size.max_pixels is smaller than one grid cell"
    if not size["presets"]:
        return "size.presets is empty"
    if len(set(size["presets"])) != len(size["presets"]):
        return "size.presets lists a size twice"
    for preset in size["presets"]:
        m = _SIZE.fullmatch(preset)
        if m is None:
            return f"size preset {json.dumps(preset)} is not WIDTHxHEIGHT"
        w, h = int(m[1]), int(m[2])
        if w % multiple or h % multiple:
            return f"size preset {preset} is not on the {multiple}-pixel grid"
        if w > size["max_side"] or h > size["max_side"] or w * h > size["max_pixels"]:
            return f"size preset {preset} exceeds the size limits"
    if size["default"] not in size["presets"]:
        return f"size.default {size['default']} is not one of size.presets"
    frames = card["frames"]
    if (frames["min"] - 1) % frames["multiple"] or (frames["max"] - 1) % frames["multiple"]:
        return f"frames.min and frames.max must be {frames['multiple']}k+1"
    if frames["min"] > frames["max"]:
        return "frames.min exceeds frames.max"
    for name, integer, floor in (
        ("fps", True, 1),
        ("seconds", False, 0),
        ("num_inference_steps", True, 1),
        ("guidance_scale", False, 0),
    ):
        problem = _range_problem(name, card[name], integer, floor)
        if problem:
            return problem
    if card["seconds"]["min"] <= 0:
        return "seconds.min must be greater than 0"
    if card["flow_shift"] is not None and not card["flow_shift"] > 0:
        return "flow_shift must be greater than 0"
    if len(set(card["loras"])) != len(card["loras"]):
        return "loras lists an adapter twice"
    return None


def model_card_problem(value: Any) -> str | None:
    """Shape and rules of a decoded card; None when it is a valid card."""
    return check_shape(value, CARD_SHAPE) or card_problem(value)


REQUEST_SHAPES: dict[str, dict[str, Check]] = {
    "generate": {
        "type": _str,
        "job_id": _non_empty,
        "params": _obj(PARAMS_SHAPE),
        "out_path": _non_empty,
        "thumbnail_path": _non_empty,
    },
    "cancel": {"type": _str, "job_id": _non_empty},
    "shutdown": {"type": _str},
}

EVENT_SHAPES: dict[str, dict[str, Check]] = {
    "ready": {
        "type": _str,
        "protocol": _pos_int,
        "device": _non_empty,
        "load_s": _non_neg_num,
        "card": _obj(CARD_SHAPE),
    },
    "progress": {"type": _str, "job_id": _non_empty, "step": _non_neg_int, "total": _pos_int},
    "done": {
        "type": _str,
        "job_id": _non_empty,
        "path": _non_empty,
        "thumbnail_path": _non_empty,
        "frames": _pos_int,
        "fps": _pos_int,
        "width": _pos_int,
        "height": _pos_int,
        "timings": _obj({"inference_s": _non_neg_num, "encode_s": _non_neg_num}),
        "acceleration": _obj(ACCELERATION_SHAPE),
    },
    "error": {
        "type": _str,
        "job_id": _nullable(_non_empty),
        "code": _one_of(WORKER_ERROR_CODES),
        "message": _str,
    },
    "preview": {
        "type": _str,
        "job_id": _non_empty,
        "step": _pos_int,
        "total": _pos_int,
        "mime": _one_of(PREVIEW_MIMES),
        "width": _pos_int,
        "height": _pos_int,
        "data": _preview_data,
    },
    "heartbeat": {
        "type": _str,
        "gpu_mem_bytes": _nullable(_non_neg_int),
        "gpu_mem_total_bytes": _nullable(_non_neg_int),
        "rss_bytes": _nullable(_non_neg_int),
    },
}


def _reject_constant(name: str) -> Any:
    # JSON.parse rejects NaN and Infinity; so do we.
    raise ValueError(name)


def _parse_with(line: str, shapes: Mapping[str, Mapping[str, Check]]) -> dict[str, Any]:
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except ValueError:
        raise ProtocolError("not JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ProtocolError('missing "type"')
    kind = value["type"]
    # A generate that names its job can be answered even when the rest of it is wrong.
    job_id = value.get("job_id") if kind == "generate" else None
    job_id = job_id if isinstance(job_id, str) and job_id else None
    shape = shapes.get(kind)
    if shape is None:
        raise ProtocolError(f'unknown type "{kind}"')
    problem = check_shape(value, shape)
    if problem:
        raise ProtocolError(f"{kind}: {problem}", job_id)
    if kind in ("progress", "preview") and value["step"] > value["total"]:
        raise ProtocolError(f"{kind}: step greater than total")
    if kind == "ready":
        problem = card_problem(value["card"])
        if problem:
            raise ProtocolError(f"ready: card: {problem}")
    if kind == "generate":
        params, image = value["params"], value["params"]["image"]
        if image is not None and (image["width"], image["height"]) != (params["width"], params["height"]):
            raise ProtocolError("generate: image size differs from width×height", job_id)
    return value


def parse_request(line: str) -> Request:
    """Parses one line the API wrote on stdin into its typed request. Raises ProtocolError."""
    value = _parse_with(line, REQUEST_SHAPES)
    kind = value["type"]
    if kind == "generate":
        return GenerateRequest(
            job_id=value["job_id"],
            params=GenerateParams.from_wire(value["params"]),
            out_path=value["out_path"],
            thumbnail_path=value["thumbnail_path"],
        )
    if kind == "cancel":
        return CancelRequest(job_id=value["job_id"])
    return ShutdownRequest()


def parse_event(line: str) -> dict[str, Any]:
    """Parses one line a worker wrote on stdout (used by tests and the TS parity check)."""
    return _parse_with(line, EVENT_SHAPES)


def encode(message: Mapping[str, Any]) -> str:
    """One message on the wire: compact JSON, newline-terminated, never NaN."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n"


# Event constructors: the only way the worker builds what it writes, so every line is valid.


def ready(device: str, load_s: float, card: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "ready",
        "protocol": PROTOCOL_VERSION,
        "device": device,
        "load_s": round(max(load_s, 0.0), 3),
        "card": dict(card),
    }


def progress(job_id: str, step: int, total: int) -> dict[str, Any]:
    return {"type": "progress", "job_id": job_id, "step": int(step), "total": int(total)}


def done(
    job_id: str,
    path: str,
    thumbnail_path: str,
    frames: int,
    fps: int,
    width: int,
    height: int,
    inference_s: float,
    encode_s: float,
    acceleration: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "type": "done",
        "job_id": job_id,
        "path": path,
        "thumbnail_path": thumbnail_path,
        "frames": int(frames),
        "fps": int(fps),
        "width": int(width),
        "height": int(height),
        "timings": {
            "inference_s": round(max(inference_s, 0.0), 3),
            "encode_s": round(max(encode_s, 0.0), 3),
        },
        "acceleration": dict(acceleration),
    }


def error(job_id: str | None, code: str, message: str) -> dict[str, Any]:
    if code not in WORKER_ERROR_CODES:
        raise ValueError(f"unknown worker error code {code}")
    return {"type": "error", "job_id": job_id or None, "code": code, "message": message}


def preview(
    job_id: str, step: int, total: int, mime: str, width: int, height: int, data: bytes
) -> dict[str, Any]:
    """One live preview: an encoded picture of the job's current estimate (``preview.py``)."""
    if mime not in PREVIEW_MIMES:
        raise ValueError(f"unknown preview type {mime}")
    if not 0 < len(data) <= MAX_PREVIEW_BYTES:
        raise ValueError(f"a preview of {len(data)} bytes is outside 1..{MAX_PREVIEW_BYTES}")
    return {
        "type": "preview",
        "job_id": job_id,
        "step": int(step),
        "total": int(total),
        "mime": mime,
        "width": int(width),
        "height": int(height),
        "data": base64.b64encode(data).decode("ascii"),
    }


def heartbeat(
    gpu_mem_bytes: int | None, gpu_mem_total_bytes: int | None, rss_bytes: int | None
) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "gpu_mem_bytes": gpu_mem_bytes,
        "gpu_mem_total_bytes": gpu_mem_total_bytes,
        "rss_bytes": rss_bytes,
    }
