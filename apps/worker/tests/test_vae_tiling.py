"""``T2V_VAE_TILING=true``: the tiled VAE decode the staging profile turns on, run for real.

wan-tiny's test sizes (128×128) are below diffusers' tile threshold (256 px), so tiling never ran
in CI. At 512×256 with diffusers' own tile sizes (256 px tiles every 192 px) the decode splits into
3 × 2 tiles per latent frame and blends their overlaps; the frames are compared with the untiled
decode of the same job.

Tolerance: tiles do not see their neighbours' pixels, so values near the seams differ, by more in a
random decoder than in a trained one (whose outputs are smooth). Measured here (wan-tiny, CPU): mean
absolute difference 0.004, PSNR 40.9 dB, largest single difference 0.26 at a seam. The test asks
for a mean difference ≤ 0.01 (2.5 levels of 255), PSNR ≥ 30 dB, and a difference far below the one
between two different videos (another seed: mean 0.041): a misplaced, missing or unblended tile
fails all three.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from t2v_worker.config import WorkerConfig
from worker_support import job_params

pytestmark = pytest.mark.slow

JOB = job_params(width=512, height=256, num_frames=5, num_inference_steps=2)


def _engine_and_decoder_calls(tiling: bool) -> tuple[Any, dict[str, int]]:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny", vae_tiling=tiling))
    engine.load()
    calls = {"n": 0}
    decoder = engine.pipe.vae.decoder
    forward = decoder.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return forward(*args, **kwargs)

    decoder.forward = counting
    return engine, calls


def test_tiled_decode_matches_the_untiled_one_within_tolerance() -> None:
    plain, plain_calls = _engine_and_decoder_calls(False)
    tiled, tiled_calls = _engine_and_decoder_calls(True)
    assert tiled.pipe.vae.use_tiling and not plain.pipe.vae.use_tiling
    reference = np.asarray(plain.generate(JOB, lambda *_: None))
    frames = np.asarray(tiled.generate(JOB, lambda *_: None))
    # 2 latent frames (5 video frames): one decoder call each untiled, 3 × 2 tiles each tiled.
    assert plain_calls["n"] == 2 and tiled_calls["n"] == 12
    assert frames.shape == reference.shape == (5, 256, 512, 3)
    difference = np.abs(frames - reference)
    psnr = 10 * np.log10(1.0 / float((difference**2).mean()))
    other = np.asarray(plain.generate(job_params(**{**JOB.__dict__, "seed": 99}), lambda *_: None))
    unrelated = float(np.abs(other - reference).mean())
    print(f"tiled vs untiled: mean {difference.mean():.4f}, max {difference.max():.3f}, PSNR {psnr:.1f} dB")
    assert float(difference.mean()) <= 0.01
    assert psnr >= 30.0
    assert float(difference.mean()) <= 0.25 * unrelated
