"""Image reading and writing.

Every image that enters the library goes through :func:`load_image`, which
returns an RGB ``uint8`` array of shape ``(H, W, 3)`` or raises
:class:`~ddfa.errors.ImageError` / :class:`~ddfa.errors.InputError` with a
message that says which file or argument is at fault.

Conversions applied to files and arrays alike:

- grayscale ``(H, W)`` or ``(H, W, 1)`` is replicated to three channels;
- a fourth (alpha) channel is dropped, not composited: the colour stored under
  transparent pixels is kept as it is (as in ``PIL.Image.convert("RGB")``);
- ``uint16`` is rescaled to ``uint8`` (``round(v * 255 / 65535)``);
- floating point must lie in ``[0, 1]`` and is rescaled to ``uint8``.

Files are decoded by OpenCV, which also applies the EXIF orientation tag so
that photos come out upright. Arrays are taken to be RGB(A) already.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from ddfa.atomic import atomic_write
from ddfa.errors import ImageError, InputError

__all__ = [
    "COLOR_ORDERS",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MIN_SIDE",
    "iter_image_paths",
    "load_image",
    "save_image",
]

MIN_SIDE = 32
"""Smallest accepted image side in pixels."""

MAX_PIXELS = 1 << 30
"""Largest image OpenCV decodes by default (``OPENCV_IO_MAX_IMAGE_PIXELS``); 10k x 10k is well below."""

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
     ".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".avif"}
)
"""Lower-case file extensions that :func:`iter_image_paths` picks up from folders."""

# Keep native bit depth and colour/gray, drop alpha, apply EXIF orientation.
# (IMREAD_UNCHANGED would keep alpha but ignores the orientation tag.)
_IMREAD_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR

PathLike = str | os.PathLike


COLOR_ORDERS = ("rgb", "bgr")
"""Channel orders an input array may come in (``color=`` of :func:`load_image` and the pipeline)."""


def load_image(image: PathLike | np.ndarray, color: str = "rgb") -> np.ndarray:
    """Load an image as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        image: a file path, or an array ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``
            or ``(H, W, 4)`` in RGB(A) order, of dtype ``uint8``, ``uint16`` or
            float in ``[0, 1]``. An array that is already RGB ``uint8`` and
            C-contiguous is returned as is (no copy).
        color: channel order of an input *array*: ``"rgb"`` (default) or ``"bgr"``
            (``cv2.imread`` / ``cv2.VideoCapture`` output; converted to RGB). Files
            are always decoded to RGB, whatever this says.

    Raises:
        ImageError: the file is missing, a folder, empty, not an image, corrupt
            or truncated; or the image is smaller than ``MIN_SIDE`` pixels on a side.
        InputError: the argument has an unsupported type, shape, dtype or range.
    """
    if color not in COLOR_ORDERS:
        raise InputError(f"color must be one of {', '.join(map(repr, COLOR_ORDERS))}, got {color!r}")
    if isinstance(image, np.ndarray):
        rgb = _to_rgb_uint8(image, what="the input array", error=InputError)
        return np.ascontiguousarray(rgb[..., ::-1]) if color == "bgr" else rgb
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return _to_rgb_uint8(_decode_file(path), what=f"image '{path}'", error=ImageError)
    what = "None (no image; did a video read or cv2.imread fail?)" if image is None else type(image).__name__
    raise InputError(f"load_image expects a file path or a numpy array, got {what}")


def save_image(path: PathLike, rgb: np.ndarray, *, jpeg_quality: int = 95) -> Path:
    """Write an RGB ``uint8`` image ``(H, W, 3)`` (or gray ``(H, W)``) atomically.

    The format follows the file extension. Parent folders are created. The image
    is encoded in memory, written to a temporary file in the destination folder
    and moved into place with :func:`os.replace`, so readers never see a partial
    file. Returns the path written.
    """
    path = Path(path)
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or not (
        rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)
    ):
        desc = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InputError(f"save_image expects an RGB uint8 array (H, W, 3) or (H, W), got a {desc}")
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise InputError(
            f"cannot save '{path}': unsupported extension '{path.suffix}' "
            f"(use one of {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    pixels = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext in {".jpg", ".jpeg", ".jpe"} else []
    try:
        ok, buf = cv2.imencode(ext, pixels, params)
    except cv2.error as exc:
        raise InputError(f"cannot encode the image as '{ext}' for '{path}': {exc.err}") from exc
    if not ok:
        raise InputError(f"cannot encode the image as '{ext}' for '{path}'")

    return atomic_write(path, buf.tobytes())


def iter_image_paths(paths: PathLike | Iterable[PathLike], *, recursive: bool = False) -> list[Path]:
    """Expand files and folders into a list of image files.

    Files are kept as given, in the given order (whatever their extension, so
    that :func:`load_image` reports a bad one clearly). Each folder contributes
    its files whose extension is in ``IMAGE_EXTENSIONS`` (case-insensitive),
    sorted by path; hidden files (name starting with ``.``) are skipped;
    sub-folders are searched only when ``recursive`` is true.

    Raises:
        ImageError: a path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = p.rglob("*") if recursive else p.iterdir()
            out.extend(sorted(
                f for f in found
                if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".") and f.is_file()
            ))
        elif p.exists():
            out.append(p)
        else:
            raise ImageError(f"no such file or folder: '{p}'")
    return out


def _decode_file(path: Path) -> np.ndarray:
    """Decode a file with OpenCV; native depth, 1 or 3 channels (BGR), EXIF-rotated."""
    if not path.exists():
        raise ImageError(f"cannot read image '{path}': no such file")
    if path.is_dir():
        raise ImageError(f"cannot read image '{path}': it is a folder, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image '{path}': {exc.strerror or exc}") from exc
    if not data:
        raise ImageError(f"cannot read image '{path}': the file is empty (0 bytes)")
    if not cv2.haveImageReader(str(path)):
        raise ImageError(
            f"cannot read image '{path}': not a recognised image format "
            "(supported: JPEG, PNG, BMP, TIFF, WebP, JPEG 2000, AVIF, PNM)"
        )
    # OpenCV < 5 decodes a truncated JPEG into a partly grey image with only a
    # warning; a complete one has an end-of-image marker after its first scan.
    if data[:2] == b"\xff\xd8" and data.find(b"\xff\xd9", data.find(b"\xff\xda")) < 0:
        raise ImageError(f"cannot read image '{path}': the JPEG file is truncated")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), _IMREAD_FLAGS)
    if img is None:
        raise ImageError(
            f"cannot read image '{path}': the file is corrupt or truncated "
            f"(or larger than {MAX_PIXELS} pixels)"
        )
    if img.ndim == 3:
        img = img[..., ::-1]  # BGR -> RGB
    return img


def _to_rgb_uint8(img: np.ndarray, *, what: str, error: type[Exception]) -> np.ndarray:
    """Validate and convert an RGB(A)/gray array of any supported dtype to RGB uint8."""
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    elif not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3))):
        raise error(
            f"{what} has shape {img.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"{what} is too small ({w}x{h} px); the minimum is {MIN_SIDE} px on each side")

    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        lo, hi = float(np.min(img)), float(np.max(img))
        if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
            raise error(
                f"{what} is floating point with values in [{lo:g}, {hi:g}]; "
                "float images must lie in [0, 1] (convert 0-255 data to uint8 first)"
            )
        img = (img * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise error(f"{what} has dtype {img.dtype}; expected uint8, uint16 or float in [0, 1]")

    if img.ndim == 2 or img.shape[2] == 1:
        img = np.repeat(img.reshape(h, w, 1), 3, axis=2)
    return np.ascontiguousarray(img)
