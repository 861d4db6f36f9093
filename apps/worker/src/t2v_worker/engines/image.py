"""The conditioning image of an image-to-video job: the API's fitted PNG, checked, never resized."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from ..errors import InvalidParams
from ..params import ImageInput

# The fitted image is at most the engine's frame size; anything far larger is not a fitted image.
MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024


def load_image(image: ImageInput, width: int, height: int) -> Any:
    """The image as an RGB PIL image of exactly ``width``×``height``, or InvalidParams naming why not.

    The file must be there, hash to the request's ``sha256`` (the API wrote it; a changed file is
    a different job) and decode to the job's size: the API fits the image, the worker only checks.
    The size is checked from the header, before any pixel is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    path = image.path
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_IMAGE_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidParams(f"image {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidParams(f"image {path} is a directory") from None
    except OSError as exc:
        raise InvalidParams(f"image {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise InvalidParams(f"image {path} is larger than {MAX_IMAGE_FILE_BYTES} bytes")
    digest = hashlib.sha256(data).hexdigest()
    if digest != image.sha256:
        raise InvalidParams(
            f"image {path} has sha256 {digest}, the request says {image.sha256} (the file changed)"
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.size != (width, height):
                raise InvalidParams(
                    f"image {path} is {img.size[0]}x{img.size[1]}, the job is {width}x{height} "
                    "(the API fits the image to the job's size; the worker does not resize)"
                )
            img.load()
            return img.convert("RGB")
    except InvalidParams:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidParams(f"image {path} is not a readable image: {exc}") from None
