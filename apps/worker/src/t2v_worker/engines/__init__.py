"""Engines: one loaded pipeline each, behind the same small interface (``base.Engine``)."""

from __future__ import annotations

from ..config import WorkerConfig
from .base import Engine


def create_engine(config: WorkerConfig) -> Engine:
    """The engine ``T2V_ENGINE`` names; nothing heavy is imported until ``load()``."""
    if config.engine == "wan":
        from .wan import WanEngine

        return WanEngine(config)
    if config.engine == "wan-tiny":
        from .wan_tiny import WanTinyEngine

        return WanTinyEngine(config)
    raise ValueError(f"unknown engine {config.engine}")


__all__ = ["Engine", "create_engine"]
