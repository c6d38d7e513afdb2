"""Images from paths, bytes or uploads, checked once, as RGB uint8 arrays.

Every model and view downstream takes an (H, W, 3) uint8 RGB array, so the odd cases are
settled here: a file that is not an image or is cut short gets a message naming it, an
image too large to handle is refused from its header (before its pixels are decoded, which
also guards against decompression bombs), the camera's EXIF orientation is applied, and
grayscale, palette, 16-bit and transparent images become plain RGB.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

__all__ = ["DEFAULT_MAX_PIXELS", "load_image", "as_rgb_array", "example_picture"]

#: 40 megapixels: larger than any camera photo people upload here, far below a bomb
DEFAULT_MAX_PIXELS = 40_000_000


def load_image(source, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Read ``source`` (path, bytes or file-like, e.g. an upload) as an (H, W, 3) uint8 RGB array.

    Raises ``InputError`` naming the image (``name``, the path or the upload's name) for a
    missing file, a non-image, a corrupt or truncated file, or more than ``max_pixels`` pixels.
    """
    if not isinstance(max_pixels, int) or max_pixels < 1:
        raise InputError(f"max_pixels must be a positive integer; got {max_pixels!r}")
    data, label = _read_source(source, name)
    if not data:
        raise InputError(f"{label} is empty (0 bytes); choose an image file (JPEG, PNG, ...)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise InputError(
            f"{label} is not an image that can be read (JPEG, PNG, WebP, BMP, TIFF, GIF ...)"
        ) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_large(label, str(error), max_pixels) from error
    except Exception as error:  # PIL raises assorted errors on malformed headers
        raise InputError(
            f"{label} is not a readable image ({type(error).__name__}: {error})"
        ) from error
    width, height = image.size
    if width < 1 or height < 1:
        raise InputError(f"{label} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise _too_large(
            label, f"{width}x{height} = {width * height / 1e6:.1f} megapixels", max_pixels
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_large(label, str(error), max_pixels) from error
    except Exception as error:  # truncated (OSError), corrupt data (SyntaxError, ValueError ...)
        raise InputError(
            f"{label} is corrupt or truncated and cannot be decoded ({type(error).__name__}: {error}); "
            "re-export or re-download it"
        ) from error
    return as_rgb_array(image)


def _too_large(label: str, detail: str, max_pixels: int) -> InputError:
    return InputError(
        f"{label} is too large ({detail}); the limit is {max_pixels / 1e6:g} megapixels: "
        "downscale it first (or raise max_pixels)"
    )


def as_rgb_array(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PIL image in any mode; transparency is flattened onto white."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        array = np.asarray(image, dtype=np.float64) / 257.0  # 16-bit grey -> 8-bit
        image = Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8), mode="L")
    elif mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _read_source(source, name: str | None) -> tuple[bytes, str]:
    """The bytes of ``source`` and a label for messages."""
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        label = name or f"image file {path}"
        if not path.is_file():
            raise InputError(
                f"{label} does not exist" if not path.exists() else f"{label} is not a file"
            )
        try:
            return path.read_bytes(), label
        except OSError as error:
            raise InputError(f"{label} cannot be read ({error})") from error
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or "image data"
    if hasattr(source, "read"):
        label = name or f"image {getattr(source, 'name', 'upload')!s}"
        if hasattr(source, "seek"):
            with contextlib.suppress(OSError, ValueError):  # a stream that cannot seek
                source.seek(0)
        data = source.read()
        if not isinstance(data, bytes | bytearray):
            raise InputError(
                f"{label}: expected a binary file, got {type(data).__name__} from read()"
            )
        return bytes(data), label
    raise InputError(
        f"image source: expected a path, bytes or a binary file-like object; got {type(source).__name__}"
    )


@lru_cache(maxsize=8)
def _load_cached(path: str) -> np.ndarray:
    image = load_image(path)
    image.setflags(write=False)  # shared between callers
    return image


def example_picture(example) -> np.ndarray | None:
    """An example's pixels (its array, or its file decoded once and cached), None if it has neither."""
    if example.image is not None:
        return example.image
    if example.image_path:
        return _load_cached(str(example.image_path))
    return None
