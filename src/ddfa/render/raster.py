"""CPU z-buffer rasteriser for one triangle mesh under a scaled orthographic camera.

Vertices are in the image frame: ``x`` = column and ``y`` = row (down) in pixels,
with the centre of the top-left pixel at (0, 0), and ``z`` = depth in the same
units, larger = closer. Pixels are sampled at their centres (integer ``x, y``);
a centre exactly on an edge shared by two triangles belongs to exactly one of
them (top-left fill rule), so adjacent triangles neither overlap nor leave gaps. Attributes are
interpolated linearly in screen space (no perspective correction is needed for
an orthographic camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor

import numba
import numpy as np

from ._checks import RenderError, as_mesh, as_size, is_real

__all__ = ["RenderResult", "rasterize"]


@dataclass(frozen=True)
class RenderResult:
    """Output of :func:`rasterize`.

    Attributes:
        image: float32 ``(H, W, C)`` interpolated attributes; ``background`` where
            no triangle covers the pixel.
        depth: float32 ``(H, W)`` interpolated ``z`` of the visible surface, ``-inf``
            where empty.
        mask: bool ``(H, W)``, True where a triangle covers the pixel.
        triangle_id: int32 ``(H, W)`` index of the visible triangle, -1 where empty.
    """

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    triangle_id: np.ndarray


@numba.njit(cache=True, nogil=True)
def _edge(px, py, qx, qy):
    """Coefficients (a, b, c) of the edge function a*x + b*y + c of the edge p->q.

    Reversing the edge negates all three exactly, so a pixel centre on a shared
    edge gets exactly opposite values from the two triangles that share it.
    """
    return py - qy, qx - px, px * qy - py * qx


@numba.njit(cache=True, nogil=True)
def _owns(a, b):
    """Top-left rule: whether an edge owns the pixel centres lying exactly on it."""
    return a > 0.0 or (a == 0.0 and b > 0.0)


@numba.njit(cache=True, nogil=True)
def _passes(w, own):
    """Whether a pixel centre with edge value ``w`` is on the inner side of the edge."""
    return w > 0.0 or (w == 0.0 and own)


@numba.njit(cache=True, nogil=True)
def _right_of_left_edges(x, a0, e0, own0, a1, e1, own1, a2, e2, own2):
    """Whether column ``x`` passes the edges that bound a row's span on the left (a > 0).

    Monotone in ``x``: false left of the span's start, true from it on.
    """
    return (
        (a0 <= 0.0 or _passes(a0 * x + e0, own0))
        and (a1 <= 0.0 or _passes(a1 * x + e1, own1))
        and (a2 <= 0.0 or _passes(a2 * x + e2, own2))
    )


@numba.njit(cache=True, nogil=True)
def _raster_kernel(vertices, triangles, depth, triangle_id):
    """Z-buffer pass: fill ``depth`` and ``triangle_id`` in place."""
    height, width = depth.shape
    for t in range(triangles.shape[0]):
        i0, i1, i2 = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        x0, y0, z0 = np.float64(vertices[i0, 0]), np.float64(vertices[i0, 1]), np.float64(vertices[i0, 2])
        x1, y1, z1 = np.float64(vertices[i1, 0]), np.float64(vertices[i1, 1]), np.float64(vertices[i1, 2])
        x2, y2, z2 = np.float64(vertices[i2, 0]), np.float64(vertices[i2, 1]), np.float64(vertices[i2, 2])

        # Bounding box of the covered pixel centres, clipped to the image.
        xmin = max(min(x0, x1, x2), 0.0)
        xmax = min(max(x0, x1, x2), width - 1.0)
        ymin = max(min(y0, y1, y2), 0.0)
        ymax = min(max(y0, y1, y2), height - 1.0)
        if xmin > xmax or ymin > ymax:
            continue
        col0, col1 = int(ceil(xmin)), int(floor(xmax))
        row0, row1 = int(ceil(ymin)), int(floor(ymax))
        if col0 > col1 or row0 > row1:
            continue

        # Edge function w_k = a_k x + b_k y + c_k (opposite vertex k), oriented so
        # that the inside is w_k >= 0.
        a0, b0, c0 = _edge(x1, y1, x2, y2)
        a1, b1, c1 = _edge(x2, y2, x0, y0)
        a2, b2, c2 = _edge(x0, y0, x1, y1)
        area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)  # twice the signed area
        if not abs(area) > 1e-12:  # degenerate
            continue
        if area < 0.0:
            a0, b0, c0, a1, b1, c1, a2, b2, c2 = -a0, -b0, -c0, -a1, -b1, -c1, -a2, -b2, -c2
        own0, own1, own2 = _owns(a0, b0), _owns(a1, b1), _owns(a2, b2)
        # Depth plane relative to vertex 0, clamped to the triangle's z range.
        inv_area = 1.0 / area
        dzdx = ((y2 - y0) * (z1 - z0) - (y1 - y0) * (z2 - z0)) * inv_area
        dzdy = ((x1 - x0) * (z2 - z0) - (x2 - x0) * (z1 - z0)) * inv_area
        zlo, zhi = min(z0, z1, z2), max(z0, z1, z2)

        for r in range(row0, row1 + 1):
            y = np.float64(r)
            e0, e1, e2 = b0 * y + c0, b1 * y + c1, b2 * y + c2
            # Estimate where the row's span starts (in narrow boxes, at the box's
            # left side), then settle it exactly: the left-edge test is monotone in
            # x, so a short walk corrects the estimate.
            start = np.float64(col0)
            if col1 - col0 > 3:
                if a0 > 0.0:
                    start = max(start, -e0 / a0)
                if a1 > 0.0:
                    start = max(start, -e1 / a1)
                if a2 > 0.0:
                    start = max(start, -e2 / a2)
            c = int(ceil(min(start, np.float64(col1))))
            if c <= col1 and _right_of_left_edges(np.float64(c), a0, e0, own0, a1, e1, own1, a2, e2, own2):
                while c > col0 and _right_of_left_edges(np.float64(c - 1), a0, e0, own0, a1, e1, own1, a2, e2, own2):
                    c -= 1
            else:
                while c <= col1 and not _right_of_left_edges(np.float64(c), a0, e0, own0, a1, e1, own1, a2, e2, own2):
                    c += 1
            # The span runs from there until the first pixel outside (triangles are convex).
            while c <= col1:
                x = np.float64(c)
                if not (_passes(a0 * x + e0, own0) and _passes(a1 * x + e1, own1) and _passes(a2 * x + e2, own2)):
                    break
                z = np.float32(min(max(z0 + dzdx * (x - x0) + dzdy * (y - y0), zlo), zhi))
                if z > depth[r, c]:  # strict: the lower triangle id wins ties
                    depth[r, c] = z
                    triangle_id[r, c] = t
                c += 1


@numba.njit(cache=True, nogil=True)
def _shade_kernel(vertices, triangles, attributes, triangle_id, image):
    """Attribute pass: interpolate the visible triangle's ``attributes`` at covered pixels."""
    height, width = triangle_id.shape
    channels = attributes.shape[1]
    last = -1
    i0 = i1 = i2 = 0
    x0 = y0 = e1x = e1y = e2x = e2y = inv_area = 0.0
    for r in range(height):
        for c in range(width):
            t = triangle_id[r, c]
            if t < 0:
                continue
            if t != last:  # neighbouring pixels often share a triangle
                last = t
                i0, i1, i2 = triangles[t, 0], triangles[t, 1], triangles[t, 2]
                x0, y0 = np.float64(vertices[i0, 0]), np.float64(vertices[i0, 1])
                e1x, e1y = vertices[i1, 0] - x0, vertices[i1, 1] - y0
                e2x, e2y = vertices[i2, 0] - x0, vertices[i2, 1] - y0
                inv_area = 1.0 / (e1x * e2y - e1y * e2x)
            px, py = c - x0, r - y0
            l1 = (px * e2y - py * e2x) * inv_area
            l2 = (e1x * py - e1y * px) * inv_area
            l0 = 1.0 - l1 - l2
            if l0 < 0.0 or l1 < 0.0 or l2 < 0.0:  # rounding: stay within the vertex values
                l0, l1, l2 = max(l0, 0.0), max(l1, 0.0), max(l2, 0.0)
                norm = 1.0 / (l0 + l1 + l2)
                l0, l1, l2 = l0 * norm, l1 * norm, l2 * norm
            for k in range(channels):
                image[r, c, k] = l0 * attributes[i0, k] + l1 * attributes[i1, k] + l2 * attributes[i2, k]


def rasterize(
    vertices: np.ndarray,
    triangles: np.ndarray,
    attributes: np.ndarray,
    height: int,
    width: int,
    background: float | np.ndarray | None = None,
) -> RenderResult:
    """Render a triangle mesh with a z-buffer, interpolating per-vertex attributes.

    Args:
        vertices: ``(N, 3)`` float vertices in the image frame (x, y in pixels,
            z larger = closer).
        triangles: ``(F, 3)`` integer vertex ids. Winding is ignored; triangles
            with zero area are skipped; parts outside the image are clipped.
        attributes: ``(N, C)`` float per-vertex values (colour, normal, UV, ...).
        height, width: output size in pixels.
        background: value of ``image`` where no triangle is visible: a scalar or
            ``(C,)``; default 0.

    Returns:
        A :class:`RenderResult`; ``image`` is float32 ``(H, W, C)``.

    Raises:
        RenderError: on malformed shapes, non-finite values or out-of-range ids.
    """
    vertices, triangles = as_mesh(vertices, triangles)
    height, width = as_size(height, width)
    attributes = np.asarray(attributes)
    if attributes.ndim != 2 or len(attributes) != len(vertices) or attributes.shape[1] == 0:
        raise RenderError(f"attributes must have shape ({len(vertices)}, C), got {attributes.shape}")
    if not is_real(attributes):
        raise RenderError(f"attributes must be numeric, got {attributes.dtype}")
    attributes = np.ascontiguousarray(attributes, dtype=np.float32)
    if not np.isfinite(attributes).all():
        raise RenderError("attributes contain NaN or infinite values")
    channels = attributes.shape[1]
    fill = np.zeros(channels) if background is None else np.asarray(background)
    if fill.shape not in ((), (channels,)) or not is_real(fill):
        raise RenderError(f"background must be a real scalar or have shape ({channels},), got {fill!r}")

    depth = np.full((height, width), -np.inf, np.float32)
    triangle_id = np.full((height, width), -1, np.int32)
    image = np.zeros((height, width, channels), np.float32)  # lazily zeroed pages
    if fill.any():
        image[...] = fill
    if len(triangles):
        _raster_kernel(vertices, triangles, depth, triangle_id)
        _shade_kernel(vertices, triangles, attributes, triangle_id, image)
    return RenderResult(image=image, depth=depth, mask=triangle_id >= 0, triangle_id=triangle_id)
