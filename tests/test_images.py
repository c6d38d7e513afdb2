"""vlexplore.images.load_image: formats, bad files, size limit, orientation, colour modes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vlexplore.images import load_image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def two_colour_image(width: int = 40, height: int = 20) -> np.ndarray:
    """Left half red, right half blue: orientation is visible in where red ends up."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2 :] = (0, 0, 255)
    return array


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no pixel data needed to be refused)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_rgb_png_round_trips_from_path_bytes_and_file(tmp_path):
    array = two_colour_image()
    data = encode(Image.fromarray(array))
    path = tmp_path / "scene.png"
    path.write_bytes(data)
    for source in (path, str(path), data, io.BytesIO(data)):
        loaded = load_image(source)
        assert loaded.dtype == np.uint8 and loaded.shape == (20, 40, 3)
        np.testing.assert_array_equal(loaded, array)


def test_file_like_is_read_from_the_start():
    data = encode(Image.fromarray(two_colour_image()))
    upload = io.BytesIO(data)
    upload.read(10)  # an upload widget may have been read already
    assert load_image(upload).shape == (20, 40, 3)


def test_non_image_bytes_are_refused_with_the_name(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a picture")
    with pytest.raises(ValueError, match=r"notes\.txt is not an image"):
        load_image(path)
    with pytest.raises(ValueError, match="upload.bin is not an image"):
        load_image(b"\x00\x01garbage" * 50, name="upload.bin")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        load_image(b"")
    with pytest.raises(ValueError, match="does not exist"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match="expected a path, bytes"):
        load_image(12345)


def test_truncated_jpeg_is_refused_as_corrupt(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noisy), "JPEG", quality=90)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"photo\.jpg is corrupt or truncated"):
        load_image(path)


def test_huge_image_is_refused_from_its_header():
    # 400 megapixels: PIL's own bomb guard fires while reading the header
    with pytest.raises(ValueError, match=r"huge\.png is too large.*limit is 40 megapixels"):
        load_image(png_header_only(20000, 20000), name="huge.png")
    # 45 megapixels: under PIL's guard, over ours; the message gives the size
    with pytest.raises(ValueError, match=r"30000x1500 = 45\.0 megapixels.*limit is 40 megapixels"):
        load_image(png_header_only(30000, 1500), name="wide.png")


def test_size_limit_is_configurable():
    data = encode(Image.fromarray(two_colour_image(40, 20)))  # 800 pixels
    assert load_image(data, max_pixels=800).shape == (20, 40, 3)
    with pytest.raises(ValueError, match="limit is 0.0007 megapixels"):
        load_image(data, max_pixels=700)
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(data, max_pixels=0)


def test_exif_orientation_is_applied():
    array = two_colour_image(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(Image.fromarray(array), "PNG", exif=exif)
    loaded = load_image(data)
    assert loaded.shape == (40, 20, 3)  # portrait now
    np.testing.assert_array_equal(loaded, np.rot90(array, k=-1))
    assert tuple(loaded[0, 0]) == (255, 0, 0) and tuple(loaded[-1, 0]) == (0, 0, 255)


def test_grayscale_becomes_rgb():
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1))
    loaded = load_image(encode(Image.fromarray(grey, mode="L")))
    assert loaded.shape == (5, 25, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[..., channel], grey)


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits():
    grey = np.full((4, 6), 65535, dtype=np.uint16)
    grey[:, :3] = 0
    loaded = load_image(encode(Image.fromarray(grey)))
    assert loaded.dtype == np.uint8
    assert loaded[:, :3].max() == 0 and loaded[:, 3:].min() == 255


def test_rgba_is_flattened_onto_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red everywhere
    rgba[:2, :, 3] = 255  # top half opaque
    rgba[2:, :, 3] = 0  # bottom half fully transparent
    loaded = load_image(encode(Image.fromarray(rgba, mode="RGBA")))
    assert loaded.shape == (4, 4, 3)
    assert tuple(loaded[0, 0]) == (200, 0, 0)
    assert tuple(loaded[3, 3]) == (255, 255, 255)


def test_palette_image_becomes_rgb():
    palette_image = Image.fromarray(two_colour_image()).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=2
    )
    loaded = load_image(encode(palette_image))
    assert loaded.shape == (20, 40, 3)
    assert tuple(loaded[0, 0]) == (255, 0, 0) and tuple(loaded[0, -1]) == (0, 0, 255)
