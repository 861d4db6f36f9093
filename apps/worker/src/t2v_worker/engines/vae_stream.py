"""The Wan VAE decode as a stream: one latent frame (4 video frames, 1 for the first) at a time.

diffusers' ``AutoencoderKLWan`` decodes causally: ``_decode`` runs its decoder once per latent
frame with a feature cache (the last frames each causal convolution saw) and concatenates the
outputs, and ``tiled_decode`` does the same per spatial tile, then blends the tiles. Both keep
the whole float video until the end. ``DecodedVideo`` drives the same modules in the same order
with the same cache (the VAE's own ``clear_cache`` list) and hands each latent frame's pixels out
as soon as they exist, so the encoder can start on them and nothing holds the whole video as
floats. A tiled decode keeps diffusers' tile-by-tile order, so that one tile's cache is alive at
a time: its frames wait on the host until the last tile is decoded, then are blended and handed
out a latent frame at a time. The values are those of ``vae.decode`` followed by the pipeline's
``postprocess_video``: every operation involved is per frame (``tests/test_streaming.py``
compares both, bit for bit, untiled and tiled).

A VAE without that loop (not an ``AutoencoderKLWan``) is decoded whole with ``vae.decode`` and
cut into chunks afterwards: the encoder still gets uint8 chunks, only the overlap is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


def _has_causal_loop(vae: Any) -> bool:
    from diffusers import AutoencoderKLWan

    return isinstance(vae, AutoencoderKLWan)


class DecodedVideo:
    """The video of one job, decoded on demand. ``shape`` is (frames, height, width, 3) without
    decoding anything; ``chunks()`` yields contiguous uint8 arrays F×H×W×3 (converted on the
    VAE's device and copied to the host once; a tiled decode's, on the host where its tiles
    wait); ``numpy.asarray`` gives the float video in [0, 1]
    that ``output_type="np"`` would have returned (tests and the non-streaming callers)."""

    def __init__(self, pipe: Any, latents: Any, tiled: bool) -> None:
        vae = pipe.vae
        self._pipe = pipe
        self._vae = vae
        self._latents = latents
        self.tiled = tiled
        _, _, latent_frames, latent_h, latent_w = latents.shape
        spatial = int(pipe.vae_scale_factor_spatial)
        temporal = int(pipe.vae_scale_factor_temporal)
        self.shape = (1 + (latent_frames - 1) * temporal, latent_h * spatial, latent_w * spatial, 3)
        self._consumed = False

    # ---- what callers use --------------------------------------------------------------------

    def chunks(self, check: Callable[[], None] | None = None) -> Iterator[Any]:
        """uint8 numpy chunks in frame order; the video can be streamed once. ``check`` (a
        cancel) also runs before each decoder call of a tiled decode, which hands out its first
        frame only when every tile is decoded."""
        torch = _torch()
        for pixels in self._frames(check):
            # (1, C, F, H, W) in [-1, 1] → F×H×W×3 uint8, exactly as postprocess_video + to_uint8.
            images = (pixels[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0).float()
            array = (images * 255.0).round().to(torch.uint8).contiguous().cpu().numpy()
            del images
            if array.shape[1:] != self.shape[1:]:
                raise RuntimeError(f"the VAE decoded frames of {array.shape[1:]}, expected {self.shape[1:]}")
            yield array

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        parts = [
            (pixels[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0).float().cpu().numpy()
            for pixels in self._frames()
        ]
        array = np.concatenate(parts, axis=0)
        return array if dtype is None else array.astype(dtype)

    # ---- the decode --------------------------------------------------------------------------

    def _frames(self, check: Callable[[], None] | None = None) -> Iterator[Any]:
        if self._consumed:
            raise RuntimeError("a decoded video can be read once")
        self._consumed = True
        torch = _torch()
        latents, self._latents = self._latents, None
        with torch.inference_mode():
            z = self._denormalised(latents)
            del latents
            if not _has_causal_loop(self._vae):
                yield from self._whole(z)
                return
            self._wake()
            try:
                if self.tiled and self._needs_tiles(z):
                    yield from self._tiled(z, check)
                else:
                    yield from self._untiled(z)
            finally:
                self._vae.clear_cache()
                # Model CPU offload: the VAE goes back to the host, as after the pipeline's decode.
                self._pipe.maybe_free_model_hooks()

    def _denormalised(self, latents: Any) -> Any:
        """The pipeline's own step before ``vae.decode``: to the VAE's device and dtype, then
        ``latents / std + mean`` with the VAE config's statistics."""
        torch = _torch()
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = self._vae
        latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
        z_dim = vae.config.z_dim
        mean = torch.tensor(vae.config.latents_mean).view(1, z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z_dim, 1, 1, 1).to(
            latents.device, latents.dtype
        )
        return latents / std + mean

    def _wake(self) -> None:
        """What ``vae.decode``'s ``apply_forward_hook`` does: an offload hook moves the VAE to
        the execution device before the decoder runs."""
        hook = getattr(self._vae, "_hf_hook", None)
        if hook is not None and hasattr(hook, "pre_forward"):
            hook.pre_forward(self._vae)

    def _finish(self, out: Any) -> Any:
        from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

        if self._vae.config.patch_size is not None:
            out = unpatchify(out, patch_size=self._vae.config.patch_size)
        return _torch().clamp(out, min=-1.0, max=1.0)

    def _untiled(self, z: Any) -> Iterator[Any]:
        """``AutoencoderKLWan._decode``, one latent frame at a time."""
        vae = self._vae
        vae.clear_cache()
        x = vae.post_quant_conv(z)
        cache = vae._feat_map
        for i in range(x.shape[2]):
            out = vae.decoder(x[:, :, i : i + 1], feat_cache=cache, feat_idx=[0], first_chunk=(i == 0))
            yield self._finish(out)
            del out

    def _needs_tiles(self, z: Any) -> bool:
        vae = self._vae
        ratio = vae.spatial_compression_ratio
        return (
            z.shape[-1] > vae.tile_sample_min_width // ratio
            or z.shape[-2] > vae.tile_sample_min_height // ratio
        )

    def _tiled(self, z: Any, check: Callable[[], None] | None) -> Iterator[Any]:
        """``AutoencoderKLWan.tiled_decode`` in its own order, then handed out a latent frame at a
        time. Tile by tile, every latent frame of the tile is decoded with that tile's feature
        cache, so one cache is alive at a time (a 256-pixel tile's is 446 MiB for the full-size
        VAE in float32, ``scripts/decode_bench.py --tile-cache``, and 1280×704 has 28 tiles:
        keeping every tile's cache to go frame by frame would hold 12 GiB). Each tile's decoded frames go to the host as they come, so the
        device holds one tile's work whatever the frame count. Then, frame by frame, the tiles
        are blended as diffusers blends them (in place, the tile above and the tile to the left
        already blended) and the frame is handed out."""
        torch = _torch()
        vae = self._vae
        _, _, frames, height, width = z.shape
        ratio = vae.spatial_compression_ratio
        min_h, min_w = vae.tile_sample_min_height // ratio, vae.tile_sample_min_width // ratio
        step_h, step_w = vae.tile_sample_stride_height // ratio, vae.tile_sample_stride_width // ratio
        stride_h, stride_w = vae.tile_sample_stride_height, vae.tile_sample_stride_width
        sample_h, sample_w = height * ratio, width * ratio
        patch = vae.config.patch_size
        if patch is not None:
            sample_h, sample_w = sample_h // patch, sample_w // patch
            stride_h, stride_w = stride_h // patch, stride_w // patch
            blend_h = vae.tile_sample_min_height // patch - stride_h
            blend_w = vae.tile_sample_min_width // patch - stride_w
        else:
            blend_h = vae.tile_sample_min_height - stride_h
            blend_w = vae.tile_sample_min_width - stride_w
        host = torch.device("cpu")
        # decoded[r][c][k]: tile (r, c)'s pixels of latent frame k, on the host.
        decoded: list[list[list[Any]]] = []
        for i in range(0, height, step_h):
            row = []
            for j in range(0, width, step_w):
                vae.clear_cache()
                frames_of_tile = []
                for k in range(frames):
                    if check is not None:
                        check()
                    tile = vae.post_quant_conv(z[:, :, k : k + 1, i : i + min_h, j : j + min_w])
                    out = vae.decoder(tile, feat_cache=vae._feat_map, feat_idx=[0], first_chunk=(k == 0))
                    frames_of_tile.append(out.to(host))
                    del tile, out
                row.append(frames_of_tile)
            decoded.append(row)
        vae.clear_cache()
        for k in range(frames):
            rows = [[frames_of_tile[k] for frames_of_tile in row] for row in decoded]
            for row in decoded:
                for frames_of_tile in row:
                    frames_of_tile[k] = None
            result_rows = []
            for r, row in enumerate(rows):
                result_row = []
                for c, tile in enumerate(row):
                    if r > 0:
                        tile = vae.blend_v(rows[r - 1][c], tile, blend_h)
                    if c > 0:
                        tile = vae.blend_h(row[c - 1], tile, blend_w)
                    result_row.append(tile[:, :, :, :stride_h, :stride_w])
                result_rows.append(torch.cat(result_row, dim=-1))
            del rows
            out = torch.cat(result_rows, dim=3)[:, :, :, :sample_h, :sample_w]
            del result_rows
            yield self._finish(out)
            del out

    def _whole(self, z: Any) -> Iterator[Any]:
        video = self._vae.decode(z, return_dict=False)[0]
        self._pipe.maybe_free_model_hooks()
        step = int(self._pipe.vae_scale_factor_temporal)
        yield video[:, :, :1]
        for start in range(1, video.shape[2], step):
            yield video[:, :, start : start + step]


def _torch() -> Any:
    import torch

    return torch


# Host memory one decoder call needs per output pixel, float32, streamed and untiled: the peak
# RSS a one-latent-frame decode of the full-size Wan2.2 VAE adds (``scripts/decode_bench.py``,
# measured on the CPU; docs/benchmarks.md). Activations scale with the decoder's width, so a
# narrower VAE (wan-tiny's) is scaled by its ``decoder_base_dim`` against the full one's 256.
DECODE_BYTES_PER_PIXEL = 27_000
FULL_DECODER_WIDTH = 256
# The part of the free memory a decode may plan to use: the allocator's fragmentation and the
# encoder's chunks need the rest.
BUDGET_SHARE = 0.8


def decode_estimate(vae: Any, width: int, height: int) -> int:
    """Bytes the streamed, untiled decode of one latent frame is expected to need at this size
    (the frame count does not matter: one latent frame is decoded at a time)."""
    config = vae.config
    decoder_width = config.get("decoder_base_dim") or config.get("base_dim") or FULL_DECODER_WIDTH
    element = 2 if "16" in str(vae.dtype) else 4
    per_pixel = DECODE_BYTES_PER_PIXEL * decoder_width / FULL_DECODER_WIDTH * element / 4
    return int(per_pixel * width * height)


def decode_budget(config: Any, device: str) -> tuple[int, str]:
    """(bytes, where from): ``T2V_VAE_DECODE_BUDGET_MIB``, else ``BUDGET_SHARE`` of what the
    device has free now (CUDA: free memory plus what the allocator holds unused; CPU: the
    kernel's MemAvailable)."""
    if config.vae_decode_budget_mib is not None:
        return config.vae_decode_budget_mib * 2**20, "T2V_VAE_DECODE_BUDGET_MIB"
    if device.startswith("cuda"):
        torch = _torch()
        free, _total = torch.cuda.mem_get_info()
        idle = torch.cuda.memory_reserved() - torch.cuda.memory_allocated()
        return int((free + idle) * BUDGET_SHARE), "free GPU memory"
    return int(_mem_available() * BUDGET_SHARE), "available host memory"


def _mem_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 62  # unknown: no automatic tiling


def choose_tiling(vae: Any, config: Any, device: str, params: Any) -> bool:
    """Whether this job decodes in spatial tiles: ``T2V_VAE_TILING=true`` always does; otherwise
    when the estimate exceeds the budget. Sets ``vae.use_tiling`` to match, so the pipeline's
    own (non-streamed) decode follows the same decision."""
    if config.vae_tiling:
        tiled = True
    else:
        need = decode_estimate(vae, params.width, params.height)
        budget, source = decode_budget(config, device)
        tiled = need > budget
        if tiled:
            log.info(
                "decoding %dx%d in tiles: about %d MiB untiled, over the %d MiB budget (%s)",
                params.width,
                params.height,
                need >> 20,
                budget >> 20,
                source,
            )
    if hasattr(vae, "use_tiling"):
        vae.use_tiling = tiled
    return tiled
