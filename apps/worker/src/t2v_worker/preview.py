"""Live previews: the current estimate of the clean video, shown without running the VAE.

While a job denoises, the scheduler holds its prediction of the clean latents (``x0``). A fixed
linear map from the latent channels (48 for Wan2.2's VAE) to RGB, plus a bias, turns that into a
picture at latent resolution (1/16 of the video's sides, one frame per 4), which is upscaled and
encoded as a small WebP. No VAE pass per preview: a handful of multiply-adds per latent pixel.

The map is fitted once, when the model loads, from the loaded VAE itself (``fit_projection``):
latents of the kinds the denoiser produces (the VAE's own encodings of synthetic colour fields, and
smooth random latents) are decoded, and ridge-regularised least squares finds the 48×3 matrix and
bias that best predict the decoded video's colours, averaged over each latent pixel's patch of
frames and pixels. The factors therefore belong to whatever VAE is loaded (Wan2.2's trained one,
wan-tiny's random one) and are never written down by hand.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .protocol import MAX_PREVIEW_BYTES

log = logging.getLogger(__name__)

# Tiles of the preview grid: at most this many latent frames, evenly spaced in time.
MAX_TILES = 4
# Each tile's longer side, in pixels (upscaled from latent resolution, never above the video's).
TILE_SIDE = 320
WEBP_QUALITY = 70
RIDGE = 1e-2
# Fit data: batches of latents 2 frames (5 video frames) long and this many latent pixels wide:
# on a GPU the larger size (less of each picture is edge), on a CPU the smaller (about a second
# for wan-tiny's VAE on two cores).
FIT_LATENT_SIDE = {"cuda": 8, "cpu": 4}
FIT_BATCHES = 8


@dataclass(frozen=True)
class Projection:
    """RGB = weight · latent + bias per latent pixel, in [0, 1] before clamping. ``weight`` is
    3×C, ``bias`` 3 (torch tensors); ``r2`` is how much of the decoded colour the fit explains
    on its own data."""

    weight: Any
    bias: Any
    r2: float

    def to(self, device: Any, dtype: Any) -> Projection:
        return Projection(self.weight.to(device, dtype), self.bias.to(device, dtype), self.r2)


def fit_projection(torch: Any, vae: Any, seed: int = 0, side: int | None = None) -> Projection:
    """Fits the latent→RGB map of ``vae`` (an ``AutoencoderKLWan``) by least squares.

    Latents are in the pipeline's normalised space (what the transformer denoises): the VAE sees
    ``z * std + mean`` as the pipeline does before decoding.
    """
    F = torch.nn.functional
    started = time.monotonic()
    device = next(vae.parameters()).device
    dtype = next(vae.parameters()).dtype
    cfg = vae.config
    channels = int(cfg.z_dim)
    mean = torch.tensor(cfg.latents_mean, dtype=torch.float32).view(1, channels, 1, 1, 1)
    std = torch.tensor(cfg.latents_std, dtype=torch.float32).view(1, channels, 1, 1, 1)
    g = torch.Generator().manual_seed(seed)
    side = side or FIT_LATENT_SIDE["cuda" if device.type == "cuda" else "cpu"]
    spatial = int(getattr(cfg, "scale_factor_spatial", 16))
    temporal = int(getattr(cfg, "scale_factor_temporal", 4))
    frames = 1 + temporal  # two latent frames
    pixels = side * spatial
    # 1. The VAE's own encodings of smooth colour fields, moving slowly over five frames.
    n = FIT_BATCHES // 2
    coarse = torch.rand(n, 3, 2, 3, 3, generator=g)
    video = F.interpolate(coarse, size=(frames, pixels, pixels), mode="trilinear", align_corners=True)
    with torch.no_grad():
        encoded = vae.encode((video * 2 - 1).to(device, dtype)).latent_dist.mode().float().cpu()
    encoded = (encoded - mean) / std
    # 2. Smooth random latents of several scales: early predictions of the clean video look so.
    scales = torch.tensor([0.5, 1.0, 1.5, 2.0]).repeat(n // 4 + 1)[:n].view(n, 1, 1, 1, 1)
    rough = torch.randn(n, channels, 2, 3, 3, generator=g) * scales
    smooth = F.interpolate(rough, size=(2, side, side), mode="trilinear", align_corners=True)
    latents = torch.cat([encoded, smooth])
    with torch.no_grad():
        decoded = vae.decode((latents * std + mean).to(device, dtype)).sample.float().cpu()
    rgb = ((decoded + 1) / 2).clamp(0, 1)
    # Each latent frame's colour: frame 0 alone, then each group of `temporal` frames, averaged;
    # each latent pixel's: its spatial×spatial patch, averaged.
    b, _, t, h, w = rgb.shape
    per_frame = torch.cat([rgb[:, :, :1], rgb[:, :, 1:].reshape(b, 3, -1, temporal, h, w).mean(3)], 2)
    target = F.avg_pool3d(per_frame, (1, spatial, spatial))
    x = latents.permute(0, 2, 3, 4, 1).reshape(-1, channels).double()
    y = target.permute(0, 2, 3, 4, 1).reshape(-1, 3).double()
    x1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    solution = torch.linalg.solve(x1.T @ x1 + RIDGE * torch.eye(channels + 1, dtype=x.dtype), x1.T @ y)
    predicted = x1 @ solution
    r2 = float(1 - ((predicted - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())
    weight = solution[:channels].T.float().contiguous()
    bias = solution[channels].float().contiguous()
    log.info(
        "preview projection fitted in %.2fs (r2 %.3f over %d latent pixels)",
        time.monotonic() - started,
        r2,
        len(x),
    )
    return Projection(weight, bias, r2)


def project(torch: Any, projection: Projection, latents: Any) -> Any:
    """Latents (1, C, T, h, w) → uint8 RGB frames (T', h, w, 3) on the CPU, for at most
    ``MAX_TILES`` latent frames evenly spaced in time (first and last included). The work stays
    on the latents' device until the small uint8 result."""
    z = latents[0]
    channels, t, h, w = z.shape
    count = min(MAX_TILES, t)
    index = sorted({round(i * (t - 1) / max(count - 1, 1)) for i in range(count)})
    picked = z.index_select(1, torch.tensor(index, device=z.device)).reshape(channels, -1).float()
    p = projection.to(z.device, torch.float32)
    if picked.device.type == "cpu":
        # A 3×48 by 48×N product: one thread does it in about a millisecond, where the BLAS
        # threads of a busy host can take tens (they wait for each other and for the cores).
        import numpy as np

        mixed = np.einsum("kc,cn->kn", p.weight.numpy(), picked.numpy()) + p.bias.numpy()[:, None]
        rgb = torch.from_numpy(mixed)
    else:
        rgb = torch.addmm(p.bias.view(3, 1), p.weight, picked)
    rgb = rgb.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return rgb.view(3, len(index), h, w).permute(1, 2, 3, 0).contiguous().cpu()


def encode_grid(frames: Any, width: int, height: int) -> tuple[bytes, str, int, int]:
    """uint8 frames (T, h, w, 3) → one WebP (JPEG where Pillow has no WebP) of a 2-column grid,
    each tile upscaled to the video's aspect with its longer side at most ``TILE_SIDE``."""
    from PIL import Image, features

    scale = min(1.0, TILE_SIDE / max(width, height))
    tw, th = max(1, round(width * scale)), max(1, round(height * scale))
    count = int(frames.shape[0])
    cols = 1 if count == 1 else 2
    rows = (count + cols - 1) // cols
    grid = Image.new("RGB", (tw * cols, th * rows))
    array = frames.numpy()
    for i in range(count):
        tile = Image.fromarray(array[i], "RGB").resize((tw, th), Image.BILINEAR)
        grid.paste(tile, ((i % cols) * tw, (i // cols) * th))
    out = io.BytesIO()
    if features.check("webp"):
        grid.save(out, format="WEBP", quality=WEBP_QUALITY, method=0)
        mime = "image/webp"
    else:
        grid.save(out, format="JPEG", quality=WEBP_QUALITY)
        mime = "image/jpeg"
    return out.getvalue(), mime, grid.width, grid.height


@dataclass
class PreviewPolicy:
    """When a job emits previews: every ``every_steps`` steps, never closer than
    ``min_interval_s`` to the last one; off when ``every_steps`` is 0."""

    every_steps: int = 2
    min_interval_s: float = 1.0


class Previewer:
    """Emits a job's previews from the step callback: decides when, projects, encodes, hands the
    event to ``emit``. A failure to preview is logged once and previews stop for that job; the
    job itself goes on."""

    def __init__(
        self,
        torch: Any,
        projection: Projection,
        policy: PreviewPolicy,
        emit: Callable[[int, int, bytes, str, int, int], None],
        width: int,
        height: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.torch = torch
        self.projection = projection
        self.policy = policy
        self.emit = emit
        self.width = width
        self.height = height
        self.clock = clock
        self.last: float | None = None
        self.failed = False
        self.emitted = 0

    def due(self, step: int, total: int) -> bool:
        if self.failed or self.policy.every_steps <= 0 or step >= total:
            # The last step's picture is the video itself, moments later.
            return False
        if step % self.policy.every_steps:
            return False
        return self.last is None or self.clock() - self.last >= self.policy.min_interval_s

    def render(self, latents: Any) -> tuple[bytes, str, int, int]:
        frames = project(self.torch, self.projection, latents)
        return encode_grid(frames, self.width, self.height)

    def maybe(self, step: int, total: int, latents: Callable[[], Any]) -> None:
        if not self.due(step, total):
            return
        try:
            data, mime, w, h = self.render(latents())
        except Exception as exc:  # noqa: BLE001 - a preview never fails the job
            self.failed = True
            log.warning("preview failed, no more previews for this job: %s: %s", type(exc).__name__, exc)
            return
        self.last = self.clock()
        if len(data) > MAX_PREVIEW_BYTES:
            log.warning("preview of %d bytes skipped (limit %d)", len(data), MAX_PREVIEW_BYTES)
            return
        self.emitted += 1
        self.emit(step, total, data, mime, w, h)


def x0_estimate(scheduler: Any, latents: Any) -> Any:
    """The scheduler's current prediction of the clean latents: UniPC and the DPM solvers keep it
    (``model_outputs[-1]``, converted to x0) after each step; otherwise the noisy latents."""
    outputs = getattr(scheduler, "model_outputs", None)
    if getattr(scheduler, "predict_x0", True) and outputs and outputs[-1] is not None:
        candidate = outputs[-1]
        if getattr(candidate, "shape", None) == latents.shape:
            return candidate
    return latents
