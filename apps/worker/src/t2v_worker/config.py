"""Worker configuration: read once from the environment the supervisor sets, validated here.

Nothing else in the package reads ``os.environ`` for settings. A bad value is a load failure
that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENGINES = ("wan", "wan-tiny")
DEVICES = ("cpu", "cuda")
OFFLOAD_MODES = ("none", "model", "sequential")


class ConfigError(ValueError):
    pass


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


def load_config(env: Mapping[str, str] | None = None) -> WorkerConfig:
    env = os.environ if env is None else env
    engine = _choice(env, "T2V_ENGINE", ENGINES, "wan-tiny")
    model_path = env.get("T2V_MODEL_PATH", "").strip() or None
    if engine == "wan" and not model_path:
        raise ConfigError("T2V_MODEL_PATH is required when T2V_ENGINE=wan")
    return WorkerConfig(
        engine=engine,
        model_path=model_path,
        device=_choice(env, "T2V_WORKER_DEVICE", DEVICES, "cpu"),
        cpu_offload=_choice(env, "T2V_CPU_OFFLOAD", OFFLOAD_MODES, "none"),
        vae_tiling=_bool(env, "T2V_VAE_TILING", False),
        heartbeat_interval_s=_positive_float(env, "T2V_HEARTBEAT_INTERVAL_S", 5.0),
        warmup=_bool(env, "T2V_WARMUP", False),
        ffmpeg=env.get("T2V_FFMPEG", "").strip() or None,
        attention_backend=env.get("T2V_ATTENTION_BACKEND", "").strip() or None,
    )
