"""Input validation shared by the renderer and the drawing helpers."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


class RenderError(InputError):
    """Invalid input to a ``ddfa.render`` function (a :class:`ValueError`)."""


def is_real(array: np.ndarray) -> bool:
    """Whether an array holds real numbers (bool, integer or floating point)."""
    return array.dtype.kind in "biuf"


def as_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an RGB uint8 ``(H, W, 3)`` image and return a writable copy of it."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise RenderError(
            f"{name} must be an RGB uint8 array of shape (H, W, 3), "
            f"got {image.dtype} {image.shape}"
        )
    return image.copy()


def as_points(points, name: str, n: int | None = None, dims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Check finite ``(n, d)`` points with ``d`` in ``dims``; return them as float64."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] not in dims or (n is not None and len(points) != n):
        rows = "N" if n is None else str(n)
        cols = " or ".join(str(d) for d in dims)
        raise RenderError(f"{name} must have shape ({rows}, {cols}), got {points.shape}")
    if not is_real(points):
        raise RenderError(f"{name} must be numeric, got {points.dtype}")
    points = points.astype(np.float64, copy=False)
    if not np.isfinite(points).all():
        raise RenderError(f"{name} contains NaN or infinite values")
    return points


def as_mesh(vertices, triangles) -> tuple[np.ndarray, np.ndarray]:
    """Check a mesh; return float32 ``(N, 3)`` vertices and int32 ``(F, 3)`` triangles."""
    vertices = np.asarray(vertices)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not is_real(vertices):
        raise RenderError(f"vertices must be a numeric (N, 3) array, got {vertices.dtype} {vertices.shape}")
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    if not np.isfinite(vertices).all():
        raise RenderError("vertices contain NaN or infinite values")
    triangles = np.asarray(triangles)
    if triangles.ndim != 2 or triangles.shape[1] != 3 or not np.issubdtype(triangles.dtype, np.integer):
        raise RenderError(f"triangles must be an integer (F, 3) array, got {triangles.dtype} {triangles.shape}")
    if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        raise RenderError(
            f"triangle vertex ids must lie in [0, {len(vertices)}), "
            f"got [{triangles.min()}, {triangles.max()}]"
        )
    return vertices, np.ascontiguousarray(triangles, dtype=np.int32)


def as_size(height, width) -> tuple[int, int]:
    """Check an image size in pixels."""
    if isinstance(height, bool) or isinstance(width, bool):
        raise RenderError(f"image size must be integers, got {height!r} x {width!r}")
    try:
        h, w = int(height), int(width)
    except (TypeError, ValueError):
        raise RenderError(f"image size must be integers, got {height!r} x {width!r}") from None
    if h != height or w != width or h <= 0 or w <= 0:
        raise RenderError(f"image size must be positive integers, got {height!r} x {width!r}")
    return h, w


def as_color(color, name: str = "color") -> np.ndarray:
    """Check an RGB colour in [0, 255]; return it as float64 ``(3,)``."""
    color = np.asarray(color)
    if color.shape != (3,) or not is_real(color) or not np.all((color >= 0) & (color <= 255)):
        raise RenderError(f"{name} must be 3 numbers in [0, 255], got {color!r}")
    return color.astype(np.float64)


def as_fraction(value, name: str) -> float:
    """Check a scalar in [0, 1]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise RenderError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise RenderError(f"{name} must lie in [0, 1], got {value}")
    return value
