"""Worker configuration: read once from the environment the supervisor sets, validated here.

Nothing else in the package reads ``os.environ`` for settings. A bad value is a load failure
that names the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .parallel.spec import ParallelConfigError, ParallelSpec, group_devices, parse_parallel
from .protocol import TRANSFORMER_WEIGHTS

ENGINES = ("wan", "wan-tiny")
DEVICES = ("cpu", "cuda")
OFFLOAD_MODES = ("none", "model", "sequential")
COMPILE_MODES = ("off", "blocks")
# On a GPU with no backend configured, the first of these that loads is used (``attention.py``).
ATTENTION_AUTO = "auto"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class CacheSpec:
    """``T2V_CACHE``: ``off`` or ``first-block:<threshold>`` (diffusers' First Block Cache)."""

    kind: str
    threshold: float | None = None

    def __str__(self) -> str:
        if self.kind == "first-block":
            return f"first-block:{self.threshold:g}"
        return "off"


def parse_cache(raw: str) -> CacheSpec:
    """Raises ConfigError naming T2V_CACHE and the accepted forms."""
    value = raw.strip() or "off"
    accepted = "accepted: off, first-block:<threshold in (0, 1]>"
    if value == "off":
        return CacheSpec("off")
    kind, _, arg = value.partition(":")
    if kind == "first-block":
        try:
            threshold = float(arg)
        except ValueError:
            raise ConfigError(f"T2V_CACHE={raw!r}: the threshold is not a number ({accepted})") from None
        if not 0 < threshold <= 1:
            raise ConfigError(f"T2V_CACHE={raw!r}: the threshold must be in (0, 1] ({accepted})")
        return CacheSpec("first-block", threshold=threshold)
    raise ConfigError(f"T2V_CACHE={raw!r} is not understood ({accepted})")


@dataclass(frozen=True)
class LoraSpec:
    """One ``T2V_LORAS`` entry: an adapter name and its file or directory (checked at load)."""

    name: str
    path: str


LORA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_loras(raw: str) -> tuple[LoraSpec, ...]:
    """``T2V_LORAS``: comma-separated ``<name>=<path>``, e.g. ``style=/models/loras/style.safetensors``.

    Names: letters, digits, ``.``, ``_``, ``-`` (at most 64, starting with a letter or digit),
    unique. Paths are absolute. Whether the file is there and is a LoRA is checked at load.
    """
    specs: list[LoraSpec] = []
    seen: set[str] = set()
    form = "<name>=<absolute path of a .safetensors file or a directory>"
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, path = (x.strip() for x in item.partition("="))
        if not sep or not name or not path:
            raise ConfigError(f"T2V_LORAS: {item!r} is not {form}")
        if not LORA_NAME.fullmatch(name):
            raise ConfigError(
                f"T2V_LORAS: adapter name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if name in seen:
            raise ConfigError(f"T2V_LORAS: adapter name {name!r} is given twice")
        if not os.path.isabs(path):
            raise ConfigError(f"T2V_LORAS: the path of {name!r} ({path}) is not absolute")
        seen.add(name)
        specs.append(LoraSpec(name=name, path=path))
    return tuple(specs)


@dataclass(frozen=True)
class WorkerConfig:
    engine: str = "wan-tiny"
    model_path: str | None = None
    device: str = "cpu"
    cpu_offload: str = "none"
    vae_tiling: bool = False
    heartbeat_interval_s: float = 5.0
    warmup: bool = False
    ffmpeg: str | None = None
    attention_backend: str | None = None
    compile: str = "off"
    cache: CacheSpec = CacheSpec("off")
    model_profile: str | None = None
    # (width, height, frames) the warm-up runs, so compiled blocks are ready for the preset sizes.
    warmup_shapes: tuple[tuple[int, int, int], ...] = ()
    # T2V_PARALLEL: one job across a group of ranks (``parallel/``); the collective timeout.
    parallel: ParallelSpec = ParallelSpec()
    parallel_timeout_s: float = 300.0
    # LoRA adapters loaded at start, chosen per job by name.
    loras: tuple[LoraSpec, ...] = ()
    # Live previews: one every this many steps (0: none), never closer than the interval.
    preview_every_steps: int = 2
    preview_min_interval_s: float = 1.0
    # Decode latent frame by latent frame into the encoder (docs/adr/0085).
    stream_decode: bool = True
    # T2V_VAE_DECODE_BUDGET_MIB: a job whose decode is estimated above it decodes in tiles;
    # None ("auto") derives it from the device's free memory at decode time (docs/adr/0086).
    vae_decode_budget_mib: int | None = None
    # T2V_TRANSFORMER_WEIGHTS: bf16 (default) or fp8 (opt-in, CUDA compute capability ≥ 8.9).
    transformer_weights: str = "bf16"


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ConfigError(f"{name}={raw!r} is not true or false")


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _non_negative(env: Mapping[str, str], name: str, default: float, integer: bool) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {'an integer' if integer else 'a number'}") from None
    if value < 0 or value != value:
        raise ConfigError(f"{name}={raw!r} must be 0 or more")
    return value


def _budget(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError(f"{name}={raw!r} is not auto or a positive number of MiB")
    return int(raw)


def parse_shapes(raw: str) -> tuple[tuple[int, int, int], ...]:
    """``T2V_WARMUP_SHAPES``: comma-separated ``<width>x<height>x<frames>``, e.g. ``1280x704x121``."""
    shapes: list[tuple[int, int, int]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        parts = item.split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ConfigError(f"T2V_WARMUP_SHAPES: {item!r} is not <width>x<height>x<frames>")
        width, height, frames = (int(p) for p in parts)
        shapes.append((width, height, frames))
    return tuple(shapes)


def load_config(env: Mapping[str, str] | None = None) -> WorkerConfig:
    env = os.environ if env is None else env
    engine = _choice(env, "T2V_ENGINE", ENGINES, "wan-tiny")
    model_path = env.get("T2V_MODEL_PATH", "").strip() or None
    if engine == "wan" and not model_path:
        raise ConfigError("T2V_MODEL_PATH is required when T2V_ENGINE=wan")
    device = _choice(env, "T2V_WORKER_DEVICE", DEVICES, "cpu")
    try:
        parallel = parse_parallel(env.get("T2V_PARALLEL", ""))
        group_devices(parallel, device, env.get("CUDA_VISIBLE_DEVICES"))
    except ParallelConfigError as exc:
        raise ConfigError(str(exc)) from None
    compile_mode = _choice(env, "T2V_COMPILE", COMPILE_MODES, "off")
    loras = parse_loras(env.get("T2V_LORAS", ""))
    if loras and compile_mode == "blocks":
        # Per-job adapter scales are Python values inside the compiled blocks: each new set of
        # scales recompiles, until torch gives up and runs them eager (docs/adr/0016).
        raise ConfigError(
            "T2V_LORAS cannot be combined with T2V_COMPILE=blocks: per-job adapter scales would "
            "recompile the blocks; run LoRA workers with T2V_COMPILE=off (docs/adr/0016)"
        )
    weights = _choice(env, "T2V_TRANSFORMER_WEIGHTS", TRANSFORMER_WEIGHTS, "bf16")
    if loras and weights == "fp8":
        raise ConfigError(
            "T2V_LORAS cannot be combined with T2V_TRANSFORMER_WEIGHTS=fp8: the adapters wrap the "
            "linear layers that fp8 replaces; run LoRA workers with bf16 weights (docs/adr/0087)"
        )
    return WorkerConfig(
        engine=engine,
        model_path=model_path,
        device=device,
        cpu_offload=_choice(env, "T2V_CPU_OFFLOAD", OFFLOAD_MODES, "none"),
        vae_tiling=_bool(env, "T2V_VAE_TILING", False),
        heartbeat_interval_s=_positive_float(env, "T2V_HEARTBEAT_INTERVAL_S", 5.0),
        warmup=_bool(env, "T2V_WARMUP", False),
        ffmpeg=env.get("T2V_FFMPEG", "").strip() or None,
        attention_backend=env.get("T2V_ATTENTION_BACKEND", "").strip() or None,
        compile=compile_mode,
        cache=parse_cache(env.get("T2V_CACHE", "")),
        model_profile=env.get("T2V_MODEL_PROFILE", "").strip() or None,
        warmup_shapes=parse_shapes(env.get("T2V_WARMUP_SHAPES", "")),
        parallel=parallel,
        parallel_timeout_s=_positive_float(env, "T2V_PARALLEL_TIMEOUT_S", 300.0),
        preview_every_steps=int(_non_negative(env, "T2V_PREVIEW_EVERY_STEPS", 2, integer=True)),
        preview_min_interval_s=float(_non_negative(env, "T2V_PREVIEW_MIN_INTERVAL_S", 1.0, integer=False)),
        loras=loras,
        stream_decode=_bool(env, "T2V_STREAM_DECODE", True),
        vae_decode_budget_mib=_budget(env, "T2V_VAE_DECODE_BUDGET_MIB"),
        transformer_weights=weights,
    )
