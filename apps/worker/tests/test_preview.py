"""Live previews: when they are due, what they look like, how the projection is fitted, and that
the wan-tiny worker sends them over the protocol (the preview-cost benchmark is in tools/bench)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy
import pytest

from t2v_worker import protocol
from t2v_worker.config import WorkerConfig, load_config
from t2v_worker.preview import (
    MAX_TILES,
    Previewer,
    PreviewPolicy,
    Projection,
    encode_grid,
    fit_projection,
    project,
    x0_estimate,
)
from worker_support import WorkerProcess, generate_request

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _identity_projection(channels: int = 48) -> Projection:
    weight = torch.zeros(3, channels)
    weight[0, 0] = weight[1, 1] = weight[2, 2] = 1.0
    return Projection(weight, torch.zeros(3), 1.0)


def _previewer(policy: PreviewPolicy, clock: Clock, sent: list[tuple[int, int]]) -> Previewer:
    return Previewer(
        torch,
        _identity_projection(),
        policy,
        lambda step, total, data, mime, w, h: sent.append((step, total)),
        128,
        128,
        clock=clock,
    )


def test_every_n_steps_never_closer_than_the_interval_never_at_the_last_step() -> None:
    clock, sent = Clock(), []
    previewer = _previewer(PreviewPolicy(every_steps=2, min_interval_s=1.0), clock, sent)
    latents = torch.rand(1, 48, 5, 8, 8)
    for step in range(1, 11):
        clock.now = step * 0.6  # a step takes 0.6 s
        previewer.maybe(step, 10, lambda: latents)
    # Steps 2, 4, 6, 8 are due by count; 4 is 1.2 s after 2 (sent), 6 only 1.2 s after 4 (sent);
    # 10 is the last step (the video itself comes next).
    assert sent == [(2, 10), (4, 10), (6, 10), (8, 10)]
    clock2, sent2 = Clock(), []
    slow = _previewer(PreviewPolicy(every_steps=1, min_interval_s=1.0), clock2, sent2)
    for step in range(1, 11):
        clock2.now = step * 0.4
        slow.maybe(step, 10, lambda: latents)
    assert [s for s, _ in sent2] == [1, 4, 7]  # 0.4 s steps, at least 1 s apart


def test_off_when_every_steps_is_zero_and_a_failure_stops_previews_not_the_job() -> None:
    clock, sent = Clock(), []
    off = _previewer(PreviewPolicy(every_steps=0, min_interval_s=0), clock, sent)
    off.maybe(1, 4, lambda: torch.rand(1, 48, 2, 4, 4))
    assert sent == []

    def broken() -> Any:
        raise RuntimeError("no latents")

    failing = _previewer(PreviewPolicy(every_steps=1, min_interval_s=0), clock, sent)
    failing.maybe(1, 4, broken)  # does not raise
    failing.maybe(2, 4, lambda: torch.rand(1, 48, 2, 4, 4))
    assert sent == [] and failing.failed


def test_a_grid_of_evenly_spaced_frames_at_the_videos_aspect_as_a_small_webp() -> None:
    latents = torch.zeros(1, 48, 31, 44, 80)  # Wan2.2 at 1280×704, 121 frames
    for t in range(31):
        latents[0, 0, t] = t / 30  # red grows over time
    frames = project(torch, _identity_projection(), latents)
    assert frames.shape == (MAX_TILES, 44, 80, 3) and frames.dtype == torch.uint8
    assert [int(f[0, 0, 0]) for f in frames] == [0, 85, 170, 255]  # latent frames 0, 10, 20, 30
    data, mime, width, height = encode_grid(frames, 1280, 704)
    assert mime == "image/webp" and len(data) <= protocol.MAX_PREVIEW_BYTES
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "WEBP" and picture.size == (width, height) == (640, 352)
    # Tiles left to right, top to bottom: red rises.
    reds = [picture.getpixel((x, y))[0] for x, y in ((160, 88), (480, 88), (160, 264), (480, 264))]
    assert reds == sorted(reds) and reds[0] < 10 and reds[-1] > 245


class LinearVae(torch.nn.Module):
    """A stand-in VAE whose decode is known: colour = W·z + b per latent pixel, upsampled 16×
    in space and 4× in time (first frame alone), clamped to [-1, 1]. The fit must find W."""

    def __init__(self, weight: Any, bias: Any) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = torch.nn.Parameter(bias, requires_grad=False)
        self.config = type(
            "Config",
            (),
            {
                "z_dim": 48,
                "latents_mean": [0.1] * 48,
                "latents_std": [2.0] * 48,
                "scale_factor_spatial": 16,
                "scale_factor_temporal": 4,
            },
        )()

    def encode(self, video: Any) -> Any:
        pooled = torch.nn.functional.avg_pool3d(video, (1, 16, 16))
        first, rest = pooled[:, :, :1], pooled[:, :, 1:]
        rest = rest.reshape(*rest.shape[:2], -1, 4, *rest.shape[3:]).mean(3)
        z = torch.cat([first, rest], 2)
        latent = z.repeat(1, 16, 1, 1, 1)  # 48 channels
        return type("Enc", (), {"latent_dist": type("D", (), {"mode": lambda self: latent})()})()

    def decode(self, z: Any) -> Any:
        rgb = torch.einsum("bcthw,kc->bkthw", z.float(), self.weight) + self.bias.view(1, 3, 1, 1, 1)
        first, rest = rgb[:, :, :1], rgb[:, :, 1:].repeat_interleave(4, dim=2)
        video = torch.cat([first, rest], 2).repeat_interleave(16, 3).repeat_interleave(16, 4)
        return type("Dec", (), {"sample": video.clamp(-1, 1)})()


def test_the_fit_recovers_a_known_decoder_colour_map() -> None:
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(3, 48, generator=g) * 0.02
    bias = torch.tensor([0.1, -0.2, 0.0])
    vae = LinearVae(weight, bias)
    projection = fit_projection(torch, vae, side=8)
    assert projection.r2 > 0.95
    # The map in the pipeline's normalised space: z_raw = z * std + mean.
    latents = torch.randn(1, 48, 3, 6, 6, generator=g) * 0.5
    frames = project(torch, projection, latents).float() / 255
    raw = latents * 2.0 + 0.1
    linear = torch.einsum("bcthw,kc->bkthw", raw, weight) + bias.view(1, 3, 1, 1, 1)
    truth = (linear.clamp(-1, 1) + 1) / 2
    error = float((frames - truth[0].permute(1, 2, 3, 0)).abs().mean())
    assert error < 0.01, error


def test_x0_estimate_is_the_schedulers_prediction_of_the_clean_latents() -> None:
    latents = torch.rand(1, 48, 2, 4, 4)
    predicted = torch.rand(1, 48, 2, 4, 4)
    unipc = type("S", (), {"predict_x0": True, "model_outputs": [None, predicted]})()
    assert x0_estimate(unipc, latents) is predicted
    assert x0_estimate(type("Euler", (), {})(), latents) is latents
    before_first = type("S", (), {"predict_x0": True, "model_outputs": [None, None]})()
    assert x0_estimate(before_first, latents) is latents


def test_settings_are_read_and_checked() -> None:
    config = load_config({"T2V_PREVIEW_EVERY_STEPS": "3", "T2V_PREVIEW_MIN_INTERVAL_S": "0.5"})
    assert (config.preview_every_steps, config.preview_min_interval_s) == (3, 0.5)
    assert load_config({}).preview_every_steps == 2
    from t2v_worker.config import ConfigError

    with pytest.raises(ConfigError, match="T2V_PREVIEW_EVERY_STEPS"):
        load_config({"T2V_PREVIEW_EVERY_STEPS": "-1"})
    with pytest.raises(ConfigError, match="T2V_PREVIEW_MIN_INTERVAL_S"):
        load_config({"T2V_PREVIEW_MIN_INTERVAL_S": "soon"})


def test_the_preview_event_round_trips_and_refuses_what_the_api_would() -> None:
    event = protocol.preview("j", 2, 4, "image/webp", 64, 32, b"RIFF....WEBP")
    assert protocol.parse_event(protocol.encode(event)) == event
    assert base64.b64decode(event["data"]) == b"RIFF....WEBP"
    with pytest.raises(ValueError):
        protocol.preview("j", 2, 4, "image/webp", 64, 32, b"x" * (protocol.MAX_PREVIEW_BYTES + 1))
    with pytest.raises(ValueError):
        protocol.preview("j", 2, 4, "image/png", 64, 32, b"x")


# ---- wan-tiny: the real pipeline -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> Any:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny", preview_every_steps=1, preview_min_interval_s=0))
    engine.load()
    return engine


def _render(engine: Any, seed: int, steps: int = 6) -> tuple[list[Any], Any]:
    """Runs one job; returns the x0 estimate after each step and the final frames."""
    from t2v_worker.params import GenerateParams

    estimates: list[Any] = []

    class Capture(Previewer):
        def maybe(self, step: int, total: int, latents: Any) -> None:
            estimates.append(latents().clone())

    engine.previewer = Capture(
        torch, engine.projection_for_previews(), PreviewPolicy(1, 0), lambda *a: None, 128, 128
    )
    try:
        frames = engine.generate(
            GenerateParams(
                prompt="a red car in the city at night",
                negative_prompt=None,
                width=128,
                height=128,
                num_frames=17,
                fps=8,
                num_inference_steps=steps,
                guidance_scale=5.0,
                seed=seed,
                flow_shift=None,
            ),
            lambda step, total: None,
        )
    finally:
        engine.previewer = None
    # The engine hands back the decode to run (streamed into the encoder); here, the whole video.
    return estimates, numpy.asarray(frames)


def _colour_error(engine: Any, latents: Any, frames: Any) -> float:
    """Mean absolute colour difference (0..1) between the projection of `latents` and the video's
    frames averaged over each latent pixel's patch of frames and pixels."""
    projection = engine.projection_for_previews()
    z = latents[0].float()
    rgb = (torch.einsum("cthw,kc->tkhw", z, projection.weight) + projection.bias.view(1, 3, 1, 1)).clamp(0, 1)
    video = torch.from_numpy(frames).float().permute(0, 3, 1, 2)  # F, 3, H, W
    per_latent = torch.cat([video[:1], video[1:].reshape(-1, 4, *video.shape[1:]).mean(1)])
    return float((rgb - torch.nn.functional.avg_pool2d(per_latent, 16)).abs().mean())


def test_wan_tiny_previews_converge_on_the_latents_the_video_is_decoded_from(tiny: Any) -> None:
    estimates, frames = _render(tiny, seed=11)
    assert len(estimates) == 6
    final = estimates[-1]
    gaps = [float((e - final).abs().mean()) for e in estimates]
    # Each step's estimate is nearer the final latents than the first; the last preview before
    # the video (step 5 of 6) is within a small fraction of the latents' spread.
    assert gaps[0] > gaps[-2] and gaps[-2] < 0.25 * float(final.std())


def test_wan_tiny_last_preview_has_the_final_videos_colours(tiny: Any) -> None:
    """wan-tiny's VAE is random: no linear map predicts its pixels' structure (a least-squares
    fit on its own decodes explains about 5 % of their variance), so what a preview can and must
    get right is the video's colour, measured per latent pixel. Threshold: 0.08 mean absolute
    error on a 0..1 scale (measured 0.047; the same latents through an unfitted map that reads
    the first three channels as RGB: 0.41)."""
    estimates, frames = _render(tiny, seed=11)
    error = _colour_error(tiny, estimates[-2], frames)
    naive = Projection(_identity_projection().weight, torch.full((3,), 0.0), 0.0)
    z = estimates[-2][0].float()
    rgb = (torch.einsum("cthw,kc->tkhw", z, naive.weight)).clamp(0, 1)
    video = torch.from_numpy(frames).float().permute(0, 3, 1, 2)
    per_latent = torch.cat([video[:1], video[1:].reshape(-1, 4, *video.shape[1:]).mean(1)])
    naive_error = float((rgb - torch.nn.functional.avg_pool2d(per_latent, 16)).abs().mean())
    print(f"wan-tiny last preview: colour error {error:.4f}, unfitted map {naive_error:.4f}")
    assert error < 0.08
    assert naive_error > 3 * error


def test_the_wan_tiny_worker_sends_previews_unless_the_request_turns_them_off(tmp_path: Any) -> None:
    worker = WorkerProcess(
        {
            "T2V_ENGINE": "wan-tiny",
            "T2V_WORKER_DEVICE": "cpu",
            "T2V_PREVIEW_EVERY_STEPS": "2",
            "T2V_PREVIEW_MIN_INTERVAL_S": "0",
        }
    )
    try:
        assert worker.next_event(timeout=180)["type"] == "ready"
        for job, wanted in (("with", True), ("without", False)):
            worker.send(generate_request(job, tmp_path, num_inference_steps=6, preview=wanted))
            events = []
            while True:
                event = worker.next_event(timeout=120)
                if event["type"] == "heartbeat":
                    continue
                events.append(event)
                if event["type"] in ("done", "error"):
                    break
            assert events[-1]["type"] == "done", events[-1]
            previews = [e for e in events if e["type"] == "preview"]
            if not wanted:
                assert previews == []
                continue
            assert [p["step"] for p in previews] == [2, 4]
            for p in previews:
                line = {k: v for k, v in p.items() if not k.startswith("_")}
                assert protocol.parse_event(protocol.encode(line)) == line
                picture = Image.open(io.BytesIO(base64.b64decode(p["data"])))
                assert picture.format == "WEBP" and picture.size == (p["width"], p["height"])
            # Each preview follows its step's progress event.
            kinds = [(e["type"], e.get("step")) for e in events if e["type"] in ("progress", "preview")]
            assert kinds.index(("preview", 2)) == kinds.index(("progress", 2)) + 1
    finally:
        worker.close()
