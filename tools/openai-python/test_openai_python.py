"""The official `openai` Python package, unchanged, against the t2v API (synthetic engine).

What a Python user of OpenAI's Videos API writes, pointed at t2v with `base_url` and an API key:
create, retrieve, poll, list (with auto-pagination), download the MP4 and the thumbnail, delete,
and the typed errors the library raises from t2v's OpenAI error envelope.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import openai
import pytest
from openai import OpenAI

URL = os.environ["T2V_URL"]
KEY = os.environ["T2V_KEY"]


@pytest.fixture(scope="module")
def client() -> OpenAI:
    return OpenAI(base_url=f"{URL}/v1", api_key=KEY, max_retries=0, timeout=60)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["streams"][0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_create_retrieve_list_download_delete(client: OpenAI, tmp_path: Path) -> None:
    created = client.videos.create(prompt="a paper boat on a stream", size="256x256", seconds="2")
    assert created.object == "video" and created.id.startswith("video_")
    assert created.status in ("queued", "in_progress", "completed")
    assert created.size == "256x256"

    retrieved = client.videos.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.prompt == "a paper boat on a stream"

    done = client.videos.poll(created.id, poll_interval_ms=50)
    assert done.status == "completed" and done.progress == 100
    assert done.completed_at is not None and done.completed_at >= done.created_at

    # Two more, then walk every page one video at a time: the library follows `last_id`.
    others = [client.videos.create(prompt=f"lantern {i}", size="256x256", seconds="1").id for i in range(2)]
    first_page = client.videos.list(limit=1)
    assert len(first_page.data) == 1 and first_page.has_more is True
    seen = [v.id for v in client.videos.list(limit=1)]
    assert len(seen) == len(set(seen))
    assert {created.id, *others} <= set(seen)

    mp4 = tmp_path / "boat.mp4"
    client.videos.download_content(created.id).write_to_file(mp4)
    assert ffprobe(mp4) == {"codec_name": "h264", "width": 256, "height": 256}
    thumbnail = client.videos.download_content(created.id, variant="thumbnail").content
    assert thumbnail[:3] == b"\xff\xd8\xff"  # JPEG

    deleted = client.videos.delete(created.id)
    assert deleted.id == created.id and deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as err:
        client.videos.retrieve(created.id)
    assert err.value.status_code == 404 and created.id in err.value.message


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_errors_arrive_as_the_library_s_typed_exceptions(client: OpenAI) -> None:
    # Off-grid sizes are snapped (and reported); one past the model's limits is refused.
    with pytest.raises(openai.BadRequestError) as err:
        client.videos.create(prompt="a cat", size="4096x4096")
    assert err.value.param == "size" and err.value.code == "unsupported_size"
    assert "4096x4096" in err.value.message

    anonymous = OpenAI(base_url=f"{URL}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.videos.list()


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written with the standard library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_image_to_video_with_input_reference(client: OpenAI) -> None:
    image = png(512, 512, (200, 40, 40))
    created = client.videos.create(
        prompt="the square starts to spin",
        seconds="1",
        input_reference=("square.png", image, "image/png"),
    )
    # No size given: the square image gets the square preset.
    assert created.size == "256x256"
    reference = created.model_extra["input_reference"]
    assert reference["width"] == 256 and reference["height"] == 256 and len(reference["sha256"]) == 64
    done = client.videos.poll(created.id, poll_interval_ms=50)
    assert done.status == "completed"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bad_and_oversized_images_are_answered(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.videos.create(prompt="x", input_reference=("cat.png", b"not an image\n", "image/png"))
    assert err.value.status_code == 400 and err.value.param == "input_reference"
    # 30 MB: the refusal arrives as an answer, not as a connection error.
    with pytest.raises(openai.APIStatusError) as big:
        big_png = b"\x89PNG" + bytes(30 * 1024 * 1024)
        client.videos.create(prompt="x", input_reference=("big.png", big_png, "image/png"))
    assert big.value.status_code in (400, 413)
