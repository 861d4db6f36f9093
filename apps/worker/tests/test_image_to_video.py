"""Image-to-video on wan-tiny: diffusers' WanImageToVideoPipeline over the text pipeline's own
components, run for real on the CPU, in process and through the worker process over stdio.

What is shown: the image pipeline adds no copy of any weight; the first latent frame of an image
job is the VAE encoding of the image (Wan2.2 TI2V's conditioning); the same image gives the same
video and another image another video; a missing, changed or wrong-size image is INVALID_PARAMS
and the worker keeps serving; a text job after an image job is byte-identical to one before it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from t2v_worker.config import WorkerConfig
from t2v_worker.errors import InvalidParams
from t2v_worker.params import ImageInput
from worker_support import (
    WorkerProcess,
    ffprobe,
    generate_request,
    image_input,
    job_params,
    tensor_storages,
    write_image,
)

pytestmark = pytest.mark.slow

JOB = job_params(
    prompt="a cat walking in the snow",
    negative_prompt=None,
    width=96,
    height=64,
    num_frames=9,
    seed=5,
)


@pytest.fixture(scope="module")
def engine() -> Any:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    engine.load()
    return engine


def test_the_image_pipeline_shares_every_tensor_with_the_text_pipeline(engine: Any) -> None:
    text, image = engine.pipe, engine.i2v_pipe
    assert type(image).__name__ == "WanImageToVideoPipeline"
    assert image.config.expand_timesteps is True and image.config.boundary_ratio is None
    for name in ("transformer", "vae", "text_encoder", "tokenizer"):
        assert getattr(image, name) is getattr(text, name), name
    assert image.image_encoder is None  # Wan2.2 TI2V conditions through the VAE, not CLIP
    text_storage, image_storage = tensor_storages(text), tensor_storages(image)
    assert len(text_storage) > 100
    # Every tensor of the image pipeline is one the text pipeline already holds: 0 extra bytes.
    assert set(image_storage) == set(text_storage)
    assert sum(image_storage.values()) == sum(text_storage.values())


def test_the_first_latent_frame_is_the_vae_encoding_of_the_image(engine: Any, tmp_path: Path) -> None:
    import torch
    from diffusers.pipelines.wan.pipeline_wan_i2v import retrieve_latents

    from t2v_worker.engines.image import load_image

    pipe = engine.i2v_pipe
    image = load_image(image_input(tmp_path / "a.png", JOB.width, JOB.height, seed=1), JOB.width, JOB.height)
    pixels = pipe.video_processor.preprocess(image, height=JOB.height, width=JOB.width).unsqueeze(2)
    vae = pipe.vae
    with torch.inference_mode():
        encoded = retrieve_latents(vae.encode(pixels), sample_mode="argmax")
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
        expected = (encoded - mean) / std
        pipe.scheduler = engine._fresh_scheduler(None)
        latents = pipe(
            image=image,
            prompt=JOB.prompt,
            height=JOB.height,
            width=JOB.width,
            num_frames=JOB.num_frames,
            num_inference_steps=JOB.num_inference_steps,
            guidance_scale=JOB.guidance_scale,
            generator=torch.Generator().manual_seed(JOB.seed),
            output_type="latent",
            max_sequence_length=engine.max_sequence_length,
        ).frames
    assert latents.shape[2] == (JOB.num_frames - 1) // 4 + 1 == 3
    assert torch.allclose(latents[:, :, 0], expected[:, :, 0], atol=1e-6)
    # The frames after the first are denoised, not copies of the image.
    assert not torch.allclose(latents[:, :, 1], expected[:, :, 0], atol=1e-2)


def test_bad_images_are_invalid_params_naming_the_file(engine: Any, tmp_path: Path) -> None:
    good = image_input(tmp_path / "good.png", JOB.width, JOB.height, seed=2)
    engine.validate(dataclasses.replace(JOB, image=good))

    missing = dataclasses.replace(good, path=str(tmp_path / "missing.png"))
    wrong_size = image_input(tmp_path / "small.png", 64, 64, seed=2)
    wrong_size = dataclasses.replace(wrong_size, width=JOB.width, height=JOB.height)
    changed = dataclasses.replace(good, sha256="0" * 64)
    text = tmp_path / "text.png"
    text.write_text("not an image")
    import hashlib

    not_image = ImageInput(str(text), hashlib.sha256(text.read_bytes()).hexdigest(), JOB.width, JOB.height)
    cases = {
        "does not exist": missing,
        "is 64x64, the job is 96x64": wrong_size,
        "(the file changed)": changed,
        "is not a readable image": not_image,
        "is a directory": dataclasses.replace(good, path=str(tmp_path)),
    }
    for expected, image in cases.items():
        with pytest.raises(InvalidParams) as err:
            engine.validate(dataclasses.replace(JOB, image=image))
        assert expected in str(err.value) and image.path in str(err.value), str(err.value)
        assert err.value.code == "INVALID_PARAMS"


def test_a_file_far_larger_than_a_fitted_image_is_refused_unread(tmp_path: Path) -> None:
    from t2v_worker.engines.image import MAX_IMAGE_FILE_BYTES, load_image

    big = tmp_path / "big.png"
    with open(big, "wb") as fh:
        fh.truncate(MAX_IMAGE_FILE_BYTES + 1)  # sparse: no 64 MiB written to disk
    with pytest.raises(InvalidParams, match=rf"image {big} is larger than {MAX_IMAGE_FILE_BYTES} bytes"):
        load_image(ImageInput(str(big), "0" * 64, JOB.width, JOB.height), JOB.width, JOB.height)


def test_a_job_reads_its_image_once(engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from t2v_worker.engines import base

    reads: list[str] = []
    real = base.load_image

    def counting(image: ImageInput, width: int, height: int) -> Any:
        reads.append(image.path)
        return real(image, width, height)

    monkeypatch.setattr(base, "load_image", counting)
    job = dataclasses.replace(JOB, image=image_input(tmp_path / "once.png", JOB.width, JOB.height, seed=4))
    # As the server runs a job: validate before progress 0, then generate (which validates too).
    engine.validate(job)
    engine.generate(dataclasses.replace(job, num_inference_steps=1), lambda *_: None)
    assert reads == [job.image.path]
    # The next job reads its file again, even the same one.
    engine.validate(job)
    assert reads == [job.image.path] * 2


def test_a_model_without_the_image_path_refuses_image_jobs(engine: Any, tmp_path: Path) -> None:
    from diffusers import WanPipeline

    from t2v_worker.engines.base import image_pipeline_from

    text = engine.pipe
    parts = {k: getattr(text, k) for k in ("tokenizer", "text_encoder", "vae", "scheduler", "transformer")}
    # A Wan2.1-style text model: no expand_timesteps, so no first-frame conditioning.
    assert image_pipeline_from(WanPipeline(**parts, transformer_2=None, expand_timesteps=False)) is None
    image = image_input(tmp_path / "a.png", JOB.width, JOB.height, seed=1)
    saved, engine.i2v_pipe = engine.i2v_pipe, None
    try:
        with pytest.raises(InvalidParams) as err:
            engine.validate(dataclasses.replace(JOB, image=image))
    finally:
        engine.i2v_pipe = saved
    assert "does not take an image (text-to-video only)" in str(err.value)


# ---- through the worker process ------------------------------------------------------------


def _run(worker: WorkerProcess, job: str, out: Path, **params: Any) -> tuple[list[dict], dict]:
    worker.send(generate_request(job, out, **params))
    return worker.until_terminal(job)


def test_an_image_job_writes_a_real_mp4(tiny_worker: WorkerProcess, tmp_path: Path) -> None:
    image = write_image(tmp_path / "cat.png", 160, 96, seed=3)
    progress, done = _run(tiny_worker, "i2v_mp4", tmp_path, width=160, height=96, num_frames=9, image=image)
    assert done["type"] == "done", done
    assert [p["step"] for p in progress] == [0, 1, 2, 3, 4]
    assert (done["frames"], done["width"], done["height"]) == (9, 160, 96)
    info = ffprobe(done["path"])
    assert (info["codec_name"], info["width"], info["height"], info["nb_read_frames"]) == ("h264", 160, 96, 9)


def test_the_image_conditions_the_video(tiny_worker: WorkerProcess, tmp_path: Path) -> None:
    a = write_image(tmp_path / "a.png", 128, 128, seed=10)
    b = write_image(tmp_path / "b.png", 128, 128, seed=11)
    videos = {}
    for job, image in (("cond_a1", a), ("cond_a2", a), ("cond_b", b), ("cond_text", None)):
        _, done = _run(tiny_worker, job, tmp_path, seed=99, image=image)
        assert done["type"] == "done", done
        videos[job] = Path(done["path"]).read_bytes()
    assert videos["cond_a1"] == videos["cond_a2"]
    assert videos["cond_a1"] != videos["cond_b"]
    assert videos["cond_text"] not in (videos["cond_a1"], videos["cond_b"])


def test_a_bad_image_fails_the_job_and_the_worker_keeps_serving(
    tiny_worker: WorkerProcess, tmp_path: Path
) -> None:
    small = write_image(tmp_path / "small.png", 64, 64, seed=4)
    wrong_size = {**small, "width": 128, "height": 128}
    missing = {**small, "path": str(tmp_path / "gone.png"), "width": 128, "height": 128}
    for job, image, expected in (
        ("bad_size", wrong_size, "is 64x64, the job is 128x128"),
        ("bad_missing", missing, "does not exist"),
    ):
        progress, error = _run(tiny_worker, job, tmp_path, image=image)
        assert progress == []  # refused before it starts
        assert error["type"] == "error" and error["code"] == "INVALID_PARAMS", error
        assert expected in error["message"], error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.png"]
    _, done = _run(
        tiny_worker,
        "after_bad_image",
        tmp_path,
        image={**small, "width": 64, "height": 64},
        width=64,
        height=64,
    )
    assert done["type"] == "done", done


def test_a_text_job_after_an_image_job_is_unchanged(tiny_worker: WorkerProcess, tmp_path: Path) -> None:
    image = write_image(tmp_path / "x.png", 128, 128, seed=12)
    _, before = _run(tiny_worker, "text_before", tmp_path, seed=31)
    _, with_image = _run(tiny_worker, "image_between", tmp_path, seed=31, image=image)
    _, after = _run(tiny_worker, "text_after", tmp_path, seed=31)
    assert before["type"] == with_image["type"] == after["type"] == "done"
    assert Path(before["path"]).read_bytes() == Path(after["path"]).read_bytes()
    assert Path(before["path"]).read_bytes() != Path(with_image["path"]).read_bytes()


def test_an_image_job_cancels_at_a_step_boundary(tiny_worker: WorkerProcess, tmp_path: Path) -> None:
    image = write_image(tmp_path / "c.png", 256, 256, seed=13)
    job = "i2v_cancel"
    tiny_worker.send(
        generate_request(
            job, tmp_path, width=256, height=256, num_frames=33, num_inference_steps=50, image=image
        )
    )
    while True:
        event = tiny_worker.next_event(timeout=60)
        assert event["type"] == "progress", event
        if event["step"] == 2:
            break
    tiny_worker.send({"type": "cancel", "job_id": job})
    progress, error = tiny_worker.until_terminal(job, timeout=60)
    assert error["type"] == "error" and error["code"] == "CANCELLED", error
    assert all(p["step"] <= 5 for p in progress), progress
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]
