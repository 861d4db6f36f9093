"""LoRA adapters: loaded once at start into the transformer, switched per job without any I/O.

``T2V_LORAS`` names each adapter and its file (``config.parse_loras``). At load every file is
checked, read into the transformer with diffusers' LoRA support (peft layers beside the base
weights, never merged into them) and then disabled. A job's choices become
``set_adapters(names, scales)``; a job without choices runs with all adapters disabled, which
computes exactly the base layers. Nothing is re-read from disk after start.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ..config import LoraSpec
from ..errors import InvalidParams, ModelLoadFailed
from ..params import LoraChoice

log = logging.getLogger(__name__)

# The name diffusers' save_lora_weights gives a LoRA file inside a directory.
DIFFUSERS_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


def resolve_file(spec: LoraSpec) -> str:
    """The .safetensors file of one adapter; raises a permanent ModelLoadFailed naming the path.

    A directory must hold ``pytorch_lora_weights.safetensors`` or exactly one ``.safetensors``
    file. Pickled ``.bin``/``.pt`` files are refused: loading them can run code.
    """
    where = f"T2V_LORAS: adapter {spec.name!r}"
    path = spec.path
    if os.path.isdir(path):
        try:
            names = sorted(n for n in os.listdir(path) if n.endswith(".safetensors"))
        except OSError as exc:
            raise ModelLoadFailed(
                f"{where}: directory {path} cannot be listed: {exc}", permanent=True
            ) from exc
        if DIFFUSERS_WEIGHT_NAME in names:
            return os.path.join(path, DIFFUSERS_WEIGHT_NAME)
        if len(names) == 1:
            return os.path.join(path, names[0])
        if not names:
            raise ModelLoadFailed(f"{where}: directory {path} holds no .safetensors file", permanent=True)
        raise ModelLoadFailed(
            f"{where}: directory {path} holds several .safetensors files ({', '.join(names)}); name the file",
            permanent=True,
        )
    if not os.path.exists(path):
        raise ModelLoadFailed(f"{where}: {path} does not exist", permanent=True)
    if not os.path.isfile(path) or not path.endswith(".safetensors"):
        raise ModelLoadFailed(
            f"{where}: {path} is not a .safetensors file (or a directory holding one)", permanent=True
        )
    return path


def _first_lines(exc: BaseException, lines: int = 2, limit: int = 400) -> str:
    """The head of a loader's message (a shape mismatch lists every layer; the first says enough)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines()[:lines] if line.strip())
    return text[:limit]


def _adapted_modules(pipe: Any, path: str) -> int:
    """How many layers the file adapts, after diffusers' conversion of its key layout."""
    state = pipe.lora_state_dict(path)
    state = state[0] if isinstance(state, tuple) else state
    return len({key.split(".lora_A.", 1)[0] for key in state if ".lora_A." in key})


def count_lora_layers(module: Any, adapter: str) -> int:
    """How many layers of ``module`` carry ``adapter`` (peft's LoRA layers keep one per name)."""
    from peft.tuners.lora import LoraLayer

    return sum(1 for m in module.modules() if isinstance(m, LoraLayer) and adapter in m.lora_A)


class LoraSet:
    """The adapters of one worker and the combination the transformer has active now."""

    def __init__(self, specs: tuple[LoraSpec, ...]) -> None:
        self.specs = specs
        self.names: tuple[str, ...] = tuple(s.name for s in specs)
        self.files: dict[str, str] = {}
        # (name, scale) pairs active in the transformer; () = all disabled; None = unknown.
        self._active: tuple[tuple[str, float], ...] | None = None
        self.last_switch_s = 0.0

    def check_files(self) -> None:
        """Before any heavy import: every path resolves to a .safetensors file."""
        self.files = {s.name: resolve_file(s) for s in self.specs}

    def load(self, pipe: Any) -> None:
        """Reads every adapter into the pipeline's transformer, then disables them all."""
        if not self.specs:
            self._active = ()
            return
        if not self.files:
            self.check_files()
        try:
            import peft  # noqa: F401 - diffusers' LoRA support needs it
        except ImportError as exc:
            raise ModelLoadFailed(
                f"T2V_LORAS is set but peft cannot be imported: {exc}", permanent=True
            ) from exc
        import torch

        for spec in self.specs:
            path = self.files[spec.name]
            if hasattr(torch.nn.Linear, spec.name) or spec.name in ("base_layer", "lora_A", "lora_B"):
                # peft keeps one sub-module per adapter name on every adapted layer.
                raise ModelLoadFailed(
                    f"T2V_LORAS: adapter {spec.name!r} ({path}): the name is an attribute of "
                    "every torch layer; choose another name",
                    permanent=True,
                )
            started = time.monotonic()
            try:
                pipe.load_lora_weights(path, adapter_name=spec.name)
            except Exception as exc:  # noqa: BLE001 - any loader failure names the file
                raise ModelLoadFailed(
                    f"T2V_LORAS: adapter {spec.name!r} ({path}) cannot be loaded into the transformer: "
                    f"{type(exc).__name__}: {_first_lines(exc)}",
                    permanent=True,
                ) from exc
            layers = count_lora_layers(pipe.transformer, spec.name)
            expected = _adapted_modules(pipe, path)
            if layers == 0 or layers < expected:
                # peft only warns about keys that match no layer: half an adapter is refused here.
                raise ModelLoadFailed(
                    f"T2V_LORAS: adapter {spec.name!r} ({path}) matches {layers} of its {expected} "
                    "layers in the transformer (a LoRA for another model?)",
                    permanent=True,
                )
            log.info(
                "LoRA %s: %s, %d layers, loaded in %.2fs", spec.name, path, layers, time.monotonic() - started
            )
        pipe.disable_lora()
        self._active = ()

    def validate(self, choices: tuple[LoraChoice, ...]) -> None:
        seen: set[str] = set()
        for choice in choices:
            if choice.name not in self.names:
                loaded = ", ".join(self.names) if self.names else "none"
                raise InvalidParams(f"lora {choice.name!r} is not loaded by this worker (loaded: {loaded})")
            if choice.name in seen:
                raise InvalidParams(f"lora {choice.name!r} is chosen twice")
            seen.add(choice.name)

    def apply(self, pipe: Any, choices: tuple[LoraChoice, ...]) -> None:
        """Makes exactly ``choices`` active (none: all disabled). No I/O; a no-op when unchanged."""
        wanted = tuple((c.name, float(c.scale)) for c in choices)
        if not self.specs or wanted == self._active:
            self.last_switch_s = 0.0
            return
        started = time.monotonic()
        self._active = None  # unknown until the switch completes
        if wanted:
            pipe.enable_lora()
            pipe.set_adapters([n for n, _ in wanted], adapter_weights=[s for _, s in wanted])
        else:
            pipe.disable_lora()
        self._active = wanted
        self.last_switch_s = time.monotonic() - started
        log.info("LoRA adapters now %s (%.3fs)", dict(wanted) or "off", self.last_switch_s)
