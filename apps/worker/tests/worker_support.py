"""Shared test helpers: repository paths, ffprobe, and a real worker subprocess over stdio.

Not named conftest.py: tests import from it, and the benchmark tests have a conftest of their own.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from t2v_worker import protocol
from t2v_worker.params import GenerateParams, ImageInput

WORKER_DIR = Path(__file__).resolve().parents[1]
REPO = WORKER_DIR.parents[1]
FIXTURES = REPO / "libs" / "contracts" / "fixtures" / "protocol"
CARD_FIXTURES = REPO / "libs" / "contracts" / "fixtures" / "card"


def ffprobe(path: str | Path) -> dict[str, Any]:
    """Stream facts as a player sees them: codec, pixel format, size, decoded frame count."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    stream["nb_read_frames"] = int(stream["nb_read_frames"])
    return stream


def moov_before_mdat(path: str | Path) -> bool:
    """+faststart puts the moov atom ahead of the media data."""
    data = Path(path).read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def generate_request(job_id: str, out_dir: Path, **params: Any) -> dict[str, Any]:
    base = {
        "prompt": "a cat dancing in the rain",
        "negative_prompt": None,
        "width": 128,
        "height": 128,
        "num_frames": 17,
        "fps": 8,
        "num_inference_steps": 4,
        "guidance_scale": 5.0,
        "seed": 7,
        "flow_shift": None,
        "acceleration": "auto",
        "image": None,
        "loras": [],
    }
    base.update(params)
    return {
        "type": "generate",
        "job_id": job_id,
        "params": base,
        "out_path": str(out_dir / f"{job_id}.mp4"),
        "thumbnail_path": str(out_dir / f"{job_id}.jpg"),
    }


class WorkerProcess:
    """``python -u -m t2v_worker`` exactly as the supervisor starts it.

    Every stdout line must parse as a protocol event (anything else fails the test), heartbeats
    are kept apart so tests can wait on the job events alone.
    """

    def __init__(self, env: dict[str, str], prelude: str | None = None) -> None:
        """``prelude``: Python run in the worker process before its entry point (a fault to inject)."""
        full_env = dict(os.environ)
        # The worker's sources first; packages put on the path by the caller (carried wheels) stay.
        path = os.pathsep.join([str(WORKER_DIR / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
        full_env.update({"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"})
        full_env.update(env)
        argv = ["-m", "t2v_worker"]
        if prelude is not None:
            argv = ["-c", prelude + "\nimport runpy\nrunpy.run_module('t2v_worker', run_name='__main__')"]
        self.proc = subprocess.Popen(
            [sys.executable, "-u", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
            bufsize=1,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.heartbeats: list[dict[str, Any]] = []
        self.bad_lines: list[str] = []
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = protocol.parse_event(line)
            except protocol.ProtocolError:
                self.bad_lines.append(line)
                continue
            event["_t"] = time.monotonic()
            if event["type"] == "heartbeat":
                self.heartbeats.append(event)
            else:
                self.events.put(event)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def next_event(self, timeout: float = 60.0) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no event within {timeout}s; stderr tail:\n{''.join(self.stderr_lines[-20:])}"
            ) from None

    def until_terminal(self, job_id: str, timeout: float = 120.0) -> tuple[list[dict], dict]:
        """Progress events of ``job_id`` and its final done/error event."""
        progress: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(deadline - time.monotonic(), 0.1))
            if event.get("job_id") != job_id:
                raise AssertionError(f"unexpected event while waiting for {job_id}: {event}")
            if event["type"] == "progress":
                progress.append(event)
            else:
                return progress, event

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.send({"type": "shutdown"})
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def job_params(**overrides: Any) -> GenerateParams:
    """A small job for wan-tiny (64x64, 5 frames, 3 steps, guidance 5); ``overrides`` set fields."""
    base: dict[str, Any] = dict(
        prompt="a red bird flying over the sea",
        negative_prompt="blurry",
        width=64,
        height=64,
        num_frames=5,
        fps=8,
        num_inference_steps=3,
        guidance_scale=5.0,
        seed=11,
        flow_shift=None,
    )
    base.update(overrides)
    return GenerateParams(**base)


def tensor_storages(*pipes: Any) -> dict[int, int]:
    """data_ptr → bytes of every parameter and buffer of the pipelines' torch modules (a tensor
    shared between pipelines counts once)."""
    import torch

    out: dict[int, int] = {}
    for pipe in pipes:
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                for tensor in [*component.parameters(), *component.buffers()]:
                    storage = tensor.untyped_storage()
                    out[storage.data_ptr()] = storage.nbytes()
    return out


def image_input(path: Path, width: int, height: int, seed: int) -> ImageInput:
    """A random RGB PNG at ``path`` as a job's ``image`` (see ``write_image``)."""
    return ImageInput(**write_image(path, width, height, seed))


def write_image(path: Path, width: int, height: int, seed: int) -> dict[str, Any]:
    """A random RGB PNG at ``path``; returns the request's ``image`` object for it."""
    import hashlib

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest, "width": width, "height": height}


# wan-tiny's transformer: 2 blocks, 2 heads × 12 = 24 channels in every attention projection.
TINY_BLOCKS = 2
TINY_INNER_DIM = 24
ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


def write_tiny_lora(
    path: Path, seed: int, rank: int = 4, std: float = 0.5, inner_dim: int = TINY_INNER_DIM
) -> Path:
    """A LoRA for wan-tiny's transformer in diffusers' file format: random low-rank ``lora_A`` /
    ``lora_B`` pairs for every self- and cross-attention projection of every block."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, Any] = {}
    for block in range(TINY_BLOCKS):
        for attn in ("attn1", "attn2"):
            for proj in ATTENTION_PROJECTIONS:
                key = f"transformer.blocks.{block}.{attn}.{proj}"
                tensors[f"{key}.lora_A.weight"] = torch.randn(rank, inner_dim, generator=generator) * std
                tensors[f"{key}.lora_B.weight"] = torch.randn(inner_dim, rank, generator=generator) * std
    save_file(tensors, str(path))
    return path
