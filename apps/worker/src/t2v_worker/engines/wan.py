"""``wan``: Wan2.2-TI2V-5B from a local diffusers-format directory (production).

Hub access is off; the directory (``T2V_MODEL_PATH``, the NFS volume in Kubernetes) must hold a
complete ``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` snapshot. The transformer and text encoder run in
bfloat16, the VAE in float32 (its decode is sensitive to precision). Model or sequential CPU
offload and VAE tiling make it fit smaller GPUs (the original cluster ran 16 GB T4s).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from ..card import ModelInfo, Ranges
from ..errors import SETUP_HINT, ModelLoadFailed
from ..params import EngineLimits, GenerateParams
from ..profile import WAN_TI2V_5B
from .base import WanPipelineEngine

log = logging.getLogger(__name__)

REQUIRED_DIRS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
EXPECTED = "model_index.json, " + ", ".join(f"{d}/" for d in REQUIRED_DIRS)
# Files inside the component folders without which from_pretrained cannot even start.
REQUIRED_FILES = (
    "transformer/config.json",
    "vae/config.json",
    "text_encoder/config.json",
    "scheduler/scheduler_config.json",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin")
WEIGHTED_DIRS = ("transformer", "vae", "text_encoder")


def check_model_dir(path: str) -> None:
    """Raises ModelLoadFailed naming the path and everything missing, before any heavy import."""
    hint = f"expected a diffusers-format Wan2.2-TI2V-5B directory with {EXPECTED}"
    if not os.path.exists(path):
        mount = _empty_ancestor(path)
        if mount is not None:
            # Nothing at all under the mount point: a volume that is not there yet. Retried.
            raise ModelLoadFailed(
                f"model directory {path} does not exist and {mount} is empty "
                f"(a volume not mounted yet?); {hint}"
            )
        raise ModelLoadFailed(f"model directory {path} does not exist; {hint}", permanent=True)
    if not os.path.isdir(path):
        raise ModelLoadFailed(f"model path {path} is not a directory; {hint}", permanent=True)
    missing: list[str] = []
    index_path = os.path.join(path, "model_index.json")
    if not os.path.isfile(index_path):
        missing.append("model_index.json")
    for sub in REQUIRED_DIRS:
        if not os.path.isdir(os.path.join(path, sub)):
            missing.append(f"{sub}/")
    for rel in REQUIRED_FILES:
        sub = rel.split("/", 1)[0]
        if f"{sub}/" not in missing and not os.path.isfile(os.path.join(path, rel)):
            missing.append(rel)
    for sub in WEIGHTED_DIRS:
        folder = os.path.join(path, sub)
        if f"{sub}/" in missing or not os.path.isdir(folder):
            continue
        if not any(name.endswith(WEIGHT_SUFFIXES) for name in os.listdir(folder)):
            missing.append(f"{sub}/*.safetensors")
    if missing:
        raise ModelLoadFailed(f"model directory {path} is incomplete: missing {', '.join(missing)}; {hint}")
    try:
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelLoadFailed(f"model directory {path}: model_index.json is unreadable: {exc}") from exc
    if index.get("_class_name") != "WanPipeline":
        raise ModelLoadFailed(
            f"model directory {path}: model_index.json names {index.get('_class_name')!r}, "
            "expected 'WanPipeline'",
            permanent=True,
        )


def _empty_ancestor(path: str) -> str | None:
    """The nearest existing ancestor of a missing ``path`` when it is an empty directory (other
    than ``/``): an unpopulated mount point. None when that ancestor has content (a wrong path)."""
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent in ("", os.sep) or not os.path.isdir(parent):
        return None
    try:
        return parent if not os.listdir(parent) else None
    except OSError:
        return None


class WanEngine(WanPipelineEngine):
    name = "wan"
    info = ModelInfo(
        id="Wan2.2-TI2V-5B",
        description="Wan2.2 text/image-to-video 5B (diffusers WanPipeline), 720p at 24 fps.",
        owned_by="wan-ai",
        created=1753747200,
    )
    # Its 720p: 1280×704 either way (32-pixel sides), 5 s at 24 fps = 121 frames.
    limits = EngineLimits(max_side=1280, max_pixels=1280 * 704, max_frames=121, max_steps=100)
    ranges = Ranges(fps=(8, 30), seconds=(1, 5))
    max_sequence_length = 512
    # Steps, guidance, flow shift, frames, fps, sizes and negative prompt of the official
    # configuration; a t2v-profile.json beside the weights overrides what it sets.
    default_profile = WAN_TI2V_5B

    def load(self) -> None:
        # Before importing torch: a wrong path is reported in milliseconds, not seconds.
        check_model_dir(self.config.model_path or "")
        super().load()

    def build_pipeline(self) -> Any:
        path = self.config.model_path or ""
        offload = self.config.cpu_offload
        if self.device == "cpu" and offload != "none":
            log.warning("T2V_CPU_OFFLOAD=%s ignored on CPU", offload)
            offload = "none"
        # Offloaded components live in host memory between uses; otherwise each goes straight
        # to the GPU as it is read (engines/loading.py: host memory peaks near one shard).
        target = "cpu" if offload != "none" else self.device
        try:
            from .loading import load_pipeline

            pipe = load_pipeline(path, target)
        except ModelLoadFailed:
            raise
        except ImportError as exc:
            raise ModelLoadFailed(f"cannot import diffusers: {exc}; {SETUP_HINT}", permanent=True) from exc
        except Exception as exc:  # noqa: BLE001 - any loader failure is a load failure
            # Files that are still being copied fail here too: retried with backoff.
            raise ModelLoadFailed(f"cannot load the Wan pipeline from {path}: {exc}") from exc
        if offload == "model":
            pipe.enable_model_cpu_offload(gpu_id=0)
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload(gpu_id=0)
        log.info(
            "wan: loaded %s on %s (offload=%s, snapshot flow_shift=%s)",
            path,
            self.device,
            offload,
            pipe.scheduler.config.get("flow_shift"),
        )
        return pipe

    def base_warmup_params(self) -> GenerateParams:
        # Small enough to take seconds, large enough to touch every kernel of the real path.
        return GenerateParams(
            prompt="warm up",
            negative_prompt=None,
            width=832,
            height=480,
            num_frames=5,
            fps=24,
            num_inference_steps=2,
            guidance_scale=5.0,
            seed=0,
            flow_shift=None,
        )
