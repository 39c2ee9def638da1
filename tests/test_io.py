"""Tests for ddfa.io: loading with clear errors, conversions, atomic saving, folder expansion."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from ddfa.errors import DDFAError, ImageError, InputError
from ddfa.io import MIN_SIDE, iter_image_paths, load_image, save_image

MEDIA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media" / "images"


def _rng_image(h=48, w=64, c=3, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    hi = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1
    shape = (h, w) if c == 0 else (h, w, c)
    return rng.integers(0, int(hi) + 1, shape).astype(dtype)


def _write(path: Path, bgr: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), bgr)
    return path


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p / "missing.jpg", "no such file"),
        (lambda p: p, "folder"),
        (lambda p: (p / "empty.jpg", (p / "empty.jpg").write_bytes(b""))[0], "empty"),
        (lambda p: (p / "notes.jpg", (p / "notes.jpg").write_text("hello, not an image\n" * 20))[0],
         "not a recognised image format"),
    ],
    ids=["missing", "directory", "zero-bytes", "text-renamed-jpg"],
)
def test_bad_files_raise_image_error_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(ImageError, match=reason) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DDFAError)


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.999])
def test_truncated_jpeg_raises(tmp_path, fraction):
    ok, buf = cv2.imencode(".jpg", _rng_image(120, 160))
    data = buf.tobytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageError, match="truncated") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_truncated_png_raises(tmp_path):
    ok, buf = cv2.imencode(".png", _rng_image(120, 160))
    path = tmp_path / "cut.png"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(path)


def test_too_small_image_raises(tmp_path):
    path = _write(tmp_path / "tiny.png", _rng_image(16, 16))
    with pytest.raises(ImageError, match=f"too small.*minimum is {MIN_SIDE} px"):
        load_image(path)
    # exactly the minimum is fine
    assert load_image(_write(tmp_path / "ok.png", _rng_image(MIN_SIDE, MIN_SIDE))).shape == (MIN_SIDE, MIN_SIDE, 3)


# ---------------------------------------------------------------- conversions


def test_color_png_is_rgb(tmp_path):
    bgr = _rng_image()
    out = load_image(_write(tmp_path / "c.png", bgr))
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, bgr[..., ::-1])


def test_grayscale_png_is_replicated(tmp_path):
    gray = _rng_image(c=0)
    out = load_image(_write(tmp_path / "g.png", gray))
    assert out.shape == (48, 64, 3)
    for ch in range(3):
        np.testing.assert_array_equal(out[..., ch], gray)


def test_rgba_png_drops_alpha(tmp_path):
    bgra = _rng_image(c=4)
    bgra[:10, :, 3] = 0  # fully transparent rows keep their stored colour
    out = load_image(_write(tmp_path / "a.png", bgra))
    assert out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, bgra[..., 2::-1])


def test_16bit_png_is_scaled(tmp_path):
    levels = np.arange(256, dtype=np.uint16) * 257  # 257 * k maps exactly to k
    gray16 = np.tile(levels, (40, 1))
    out = load_image(_write(tmp_path / "g16.png", gray16))
    np.testing.assert_array_equal(out[0, :, 0], np.arange(256))
    color16 = _rng_image(c=3, dtype=np.uint16)
    out = load_image(_write(tmp_path / "c16.png", color16))
    np.testing.assert_array_equal(out, np.round(color16[..., ::-1] / 257.0).astype(np.uint8))


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((40, 60, 3), np.uint8)
    img[:10, :10] = 255  # white block at the stored top-left
    data = cv2.imencode(".jpg", img)[1].tobytes()
    # EXIF APP1 with Orientation = 6 ("rotate 90 degrees clockwise to display").
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    path = tmp_path / "rotated.jpg"
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
    out = load_image(path)
    assert out.shape == (60, 40, 3)
    assert out[:10, -10:].mean() > 200 and out[:10, :10].mean() < 50  # block now at top-right


def test_huge_image_loads(tmp_path):
    gray = np.zeros((10_000, 10_000), np.uint8)
    gray[::100] = 255
    path = _write(tmp_path / "huge.jpg", gray)
    out = load_image(path)
    assert out.shape == (10_000, 10_000, 3)
    assert out[0, 0, 0] > 200 and out[50, 50, 0] < 50


@pytest.mark.skipif(not (MEDIA / "emma.jpg").exists(), reason="shared media images not available (../shared/data)")
def test_real_jpeg_matches_opencv():
    out = load_image(str(MEDIA / "emma.jpg"))
    ref = cv2.imread(str(MEDIA / "emma.jpg"), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(out, ref[..., ::-1])


# ---------------------------------------------------------------- arrays


def test_rgb_uint8_array_passes_through_without_copy():
    rgb = _rng_image()
    assert load_image(rgb) is rgb


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 1)])
def test_gray_arrays_are_replicated(shape):
    gray = _rng_image(c=0).reshape(shape)
    out = load_image(gray)
    assert out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, np.repeat(gray.reshape(48, 64, 1), 3, axis=2))


def test_rgba_array_drops_alpha():
    rgba = _rng_image(c=4)
    np.testing.assert_array_equal(load_image(rgba), rgba[..., :3])


def test_float_array_in_unit_range():
    f = np.linspace(0, 1, 48 * 64 * 3, dtype=np.float64).reshape(48, 64, 3)
    out = load_image(f)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.round(f * 255).astype(np.uint8))


@pytest.mark.parametrize(
    "array, match",
    [
        (np.full((48, 64, 3), 200.0), r"float images must lie in \[0, 1\]"),
        (np.full((48, 64, 3), np.nan, np.float32), r"float images must lie in \[0, 1\]"),
        (np.zeros((48, 64, 3), np.int32), "dtype int32"),
        (np.zeros((48, 64, 2), np.uint8), "shape"),
        (np.zeros((2, 48, 64, 3), np.uint8), "shape"),
    ],
    ids=["float-0-255", "nan", "int32", "two-channels", "4d"],
)
def test_bad_arrays_raise_input_error(array, match):
    with pytest.raises(InputError, match=match):
        load_image(array)


def test_small_array_raises_image_error():
    with pytest.raises(ImageError, match="too small"):
        load_image(np.zeros((16, 100, 3), np.uint8))


def test_wrong_argument_type():
    with pytest.raises(InputError, match="file path or a numpy array"):
        load_image(12345)
    with pytest.raises(ValueError):  # InputError is also a ValueError
        load_image([[1, 2], [3, 4]])


# ---------------------------------------------------------------- saving


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff"])
def test_save_roundtrip_lossless_and_creates_parents(tmp_path, ext):
    rgb = _rng_image()
    path = tmp_path / "a" / "b" / f"out{ext}"
    assert save_image(path, rgb) == path
    np.testing.assert_array_equal(load_image(path), rgb)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left


def test_save_jpeg_overwrites_atomically(tmp_path):
    path = tmp_path / "out.jpg"
    path.write_bytes(b"old content")
    rgb = np.full((40, 50, 3), (200, 100, 50), np.uint8)
    save_image(path, rgb)
    assert np.abs(load_image(path).astype(int) - rgb).max() <= 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(InputError, match="RGB uint8"):
        save_image(tmp_path / "x.png", np.zeros((40, 40, 3), np.float32))
    with pytest.raises(InputError, match="unsupported extension"):
        save_image(tmp_path / "x.xyz", np.zeros((40, 40, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- folders


def test_iter_image_paths(tmp_path):
    img = _rng_image()
    for name in ["b.jpg", "a.PNG", "c.txt", ".hidden.jpg", "sub/d.jpeg", "sub/deeper/e.webp"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(cv2.imencode(".png", img)[1].tobytes())
    (tmp_path / "folder.jpg").mkdir()  # a folder with an image-like name is not a file

    assert [p.name for p in iter_image_paths(tmp_path)] == ["a.PNG", "b.jpg"]
    rec = iter_image_paths(str(tmp_path), recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in rec] == [
        "a.PNG", "b.jpg", "sub/d.jpeg", "sub/deeper/e.webp"]
    # explicit files are kept as given, in order, whatever their extension
    assert iter_image_paths([tmp_path / "c.txt", tmp_path / "b.jpg"]) == [tmp_path / "c.txt", tmp_path / "b.jpg"]
    with pytest.raises(ImageError, match="no such file or folder"):
        iter_image_paths([tmp_path / "b.jpg", tmp_path / "nope"])
