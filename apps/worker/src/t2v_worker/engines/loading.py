"""Loading the ``wan`` engine's weights: one component at a time, each straight onto its device.

``WanPipeline.from_pretrained`` with no device placement reads every component into host memory
and only then can the pipeline be moved: transformer (≈ 10 GB in bfloat16), UMT5-XXL text encoder
(≈ 11 GB) and the float32 VAE (≈ 2.8 GB) are all in the process's memory at once, which a pod
limited to 16 GiB does not survive (ranks of a worker group load at the same time, too). Here each
component is loaded with a device map naming its device, so diffusers and transformers copy each
tensor of a checkpoint shard onto the GPU as it is read, and host memory holds at most a shard
being read (file pages the kernel can reclaim) and one tensor being converted. Measured on the
CPU: ``apps/worker/scripts/load_memory.py`` (docs/benchmarks.md, "Host memory while loading").

With CPU offload the components are meant to live in host memory: they are loaded there.

The float32 transformer is converted to bfloat16 tensor by tensor in host memory on its way to the
device. glibc serves allocations below its mmap threshold from its heap, and the threshold grows
by itself (up to 32 MiB) as large blocks are freed: the converted attention weights (18 MiB each
at full size) then stay in the heap after their move, and host memory grows with the model
instead of staying at one tensor. While loading, the threshold is fixed at 1 MiB (every large
block goes back to the system when freed) and the heap is trimmed after each component.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from ..errors import ModelLoadFailed

log = logging.getLogger(__name__)

# (folder, dtype name); the transformer first: the only one converted (float32 on disk) on its way.
COMPONENTS = (("transformer", "bfloat16"), ("text_encoder", "bfloat16"), ("vae", "float32"))


def host_memory() -> dict[str, int]:
    """This process's resident memory now (bytes): anonymous, file-backed and their sum, and the
    peak of the sum so far (``VmHWM``). Empty where ``/proc`` has no such lines."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


# mallopt(3) parameter numbers (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
LOADING_MMAP_THRESHOLD = 1 << 20
SERVING_MMAP_THRESHOLD = 32 << 20  # where glibc's own adjustment would end up


def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def large_blocks_returned() -> Iterator[Any]:
    """While loading, freed blocks of 1 MiB or more go back to the system at once; yields a
    function that trims the heap (called after each component). A no-op without glibc."""
    libc = _libc()
    if libc is None:
        yield lambda: None
        return
    libc.mallopt(M_MMAP_THRESHOLD, LOADING_MMAP_THRESHOLD)
    try:
        yield lambda: libc.malloc_trim(0)
    finally:
        libc.malloc_trim(0)
        libc.mallopt(M_MMAP_THRESHOLD, SERVING_MMAP_THRESHOLD)


def _gb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e9:.2f} GB"


def component_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (a tensor shared twice counts once)."""
    seen: set[int] = set()
    total = 0
    for tensor in [*module.parameters(), *module.buffers()]:
        storage = tensor.untyped_storage()
        key = storage.data_ptr() if tensor.device.type != "meta" else id(storage)
        if key in seen:
            continue
        seen.add(key)
        total += tensor.numel() * tensor.element_size()
    return total


def load_component(path: str, name: str, dtype: Any, device: str) -> Any:
    """One component from ``path/name`` in ``dtype``, placed on ``device`` while it is read."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5EncoderModel

    common: dict[str, Any] = {"subfolder": name, "local_files_only": True}
    if device != "cpu":
        # On the CPU the default (no map) reads into host memory, which is the device there.
        common["device_map"] = {"": device}
    if name == "text_encoder":
        return UMT5EncoderModel.from_pretrained(path, dtype=dtype, **common)
    cls = WanTransformer3DModel if name == "transformer" else AutoencoderKLWan
    return cls.from_pretrained(path, torch_dtype=dtype, **common)


def load_components(path: str, device: str) -> dict[str, Any]:
    """The transformer, text encoder and VAE of a diffusers-format Wan directory, each on
    ``device`` (``cpu``, ``cuda:0``; ``meta`` measures what loading alone costs the host)."""
    import torch

    loaded: dict[str, Any] = {}
    with large_blocks_returned() as trim:
        for name, dtype_name in COMPONENTS:
            started = time.monotonic()
            model = load_component(path, name, getattr(torch, dtype_name), device)
            model.eval()
            gc.collect()
            trim()
            loaded[name] = model
            _log_component(name, dtype_name, model, device, time.monotonic() - started)
    check_text_encoder(loaded["text_encoder"], path)
    return loaded


def _log_component(name: str, dtype_name: str, model: Any, device: str, seconds: float) -> None:
    mem = host_memory()
    log.info(
        "wan: %s (%s, %s) on %s in %.1fs; host memory now %s anonymous + %s file, peak %s",
        name,
        dtype_name,
        _gb(component_bytes(model)),
        device,
        seconds,
        _gb(mem.get("RssAnon")),
        _gb(mem.get("RssFile")),
        _gb(mem.get("VmHWM")),
    )


def check_text_encoder(text_encoder: Any, path: str = "") -> None:
    """The UMT5 encoder reads its token embeddings through ``encoder.embed_tokens``, which must be
    the checkpoint's ``shared`` embedding. A transformers release once left it untied and all
    zeros when the config says ``tie_word_embeddings: false`` (as Wan's does): every prompt then
    encodes to the same vector and the video is garbage. Refused at load (permanent: the installed
    library does it every time)."""
    shared = text_encoder.shared.weight
    embed = text_encoder.encoder.embed_tokens.weight
    if embed is shared or "meta" in (shared.device.type, embed.device.type):
        return  # tied (or measuring the loader on the meta device: no values to compare)
    if embed.shape == shared.shape and bool((embed == shared).all()):
        log.warning("wan: the text encoder holds its token embeddings twice (untied copies)")
        return
    import transformers

    where = f" of {path}" if path else ""
    zeros = " (all zeros)" if not bool(embed.any()) else ""
    raise ModelLoadFailed(
        f"the text encoder{where} is broken: encoder.embed_tokens is not tied to shared.weight and "
        f"differs from it{zeros} with transformers {transformers.__version__}; prompts would not reach "
        "the model. Use a transformers release that ties UMT5 embeddings (the worker's lock pins one)",
        permanent=True,
    )


def assemble_pipeline(path: str, components: dict[str, Any]) -> Any:
    """``WanPipeline`` over the loaded components; the tokenizer, the scheduler and the pipeline's
    own settings (``expand_timesteps``, ``boundary_ratio``) come from the directory."""
    from diffusers import WanPipeline

    return WanPipeline.from_pretrained(path, local_files_only=True, **components)


def load_pipeline(path: str, device: str) -> Any:
    """The whole Wan pipeline with every weight on ``device``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return assemble_pipeline(path, load_components(path, device))
