"""Mesh visualisations built on :func:`~ddfa.render.raster.rasterize`.

All functions take vertices in the image frame (x right, y down, in pixels; z
larger = closer) and int32 ``(F, 3)`` triangles wound counter-clockwise as seen
by the viewer in a y-up frame (the project convention).
"""

from __future__ import annotations

import cv2
import numba
import numpy as np

from ._checks import RenderError, as_color, as_fraction, as_image, as_mesh, as_size, is_real
from .raster import rasterize

__all__ = ["vertex_normals", "render_shaded", "render_depth", "render_pncc"]


@numba.njit(cache=True, nogil=True)
def _accumulate_normals(vertices, triangles, normals):
    """Add each triangle's normal, scaled by twice its area, to its three vertices."""
    for t in range(triangles.shape[0]):
        i0, i1, i2 = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        ux = np.float64(vertices[i2, 0]) - vertices[i0, 0]
        uy = np.float64(vertices[i2, 1]) - vertices[i0, 1]
        uz = np.float64(vertices[i2, 2]) - vertices[i0, 2]
        vx = np.float64(vertices[i1, 0]) - vertices[i0, 0]
        vy = np.float64(vertices[i1, 1]) - vertices[i0, 1]
        vz = np.float64(vertices[i1, 2]) - vertices[i0, 2]
        # (v2 - v0) x (v1 - v0): the image frame (y down, z towards the viewer) is
        # left-handed, so this reversed product is the outward normal.
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        for i in (i0, i1, i2):
            normals[i, 0] += nx
            normals[i, 1] += ny
            normals[i, 2] += nz


def _to_uint8(image: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Round ``scale * image`` (non-negative float32, 2-D or 3-D) to uint8, saturating at 255."""
    return cv2.convertScaleAbs(image, alpha=scale)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, float32 ``(N, 3)``, in the frame of ``vertices``.

    For image-frame vertices and project-convention winding, the normals of
    surfaces facing the viewer have positive z. Vertices used by no triangle
    (or only by degenerate ones) get a zero normal.
    """
    vertices, triangles = as_mesh(vertices, triangles)
    normals = np.zeros((len(vertices), 3), np.float64)
    _accumulate_normals(vertices, triangles, normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    np.divide(normals, length, out=normals, where=length > 0)
    return normals.astype(np.float32)


def render_shaded(
    image: np.ndarray,
    vertices: np.ndarray,
    triangles: np.ndarray,
    light_dir=(-0.3, -0.4, 1.0),
    alpha: float = 0.6,
    color=(230, 230, 230),
    ambient: float = 0.3,
) -> np.ndarray:
    """Draw the mesh with Lambert + ambient shading, blended over ``image``.

    Shading is evaluated at the vertices and interpolated (Gouraud). Lighting is
    two-sided: a vertex whose normal points away from the viewer is lit like
    the front side.

    Args:
        image: RGB uint8 ``(H, W, 3)``; not modified.
        vertices, triangles: the mesh in the frame of ``image``.
        light_dir: direction towards the light in the image frame (default:
            from the viewer, slightly upper left).
        alpha: opacity of the mesh in [0, 1].
        color: RGB albedo of the mesh in [0, 255].
        ambient: share of ``color`` lit regardless of orientation, in [0, 1].

    Returns:
        A new RGB uint8 ``(H, W, 3)`` image.
    """
    out = as_image(image)
    alpha, ambient = as_fraction(alpha, "alpha"), as_fraction(ambient, "ambient")
    color = as_color(color)
    light = np.asarray(light_dir, dtype=np.float64)
    if light.shape != (3,) or not np.isfinite(light).all() or not np.linalg.norm(light) > 0:
        raise RenderError(f"light_dir must be a non-zero 3-vector, got {light.tolist()}")
    light /= np.linalg.norm(light)

    normals = vertex_normals(vertices, triangles).astype(np.float64)
    normals *= np.where(normals[:, 2:] < 0, -1.0, 1.0)  # two-sided lighting
    lambert = np.clip(normals @ light, 0.0, 1.0)
    shade = (ambient + (1.0 - ambient) * lambert)[:, None] * color
    result = rasterize(vertices, triangles, shade, *out.shape[:2])
    blended = cv2.addWeighted(out, 1.0 - alpha, _to_uint8(result.image), alpha, 0.0)
    cv2.copyTo(blended, result.mask.view(np.uint8), out)  # in place, inside the mask only
    return out


def render_depth(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Grey-level depth map, uint8 ``(H, W)``.

    Depth is scaled linearly so that the nearest vertex of the mesh maps to 255
    and the farthest to 0; empty pixels are 0.
    """
    vertices, triangles = as_mesh(vertices, triangles)
    height, width = as_size(height, width)
    if not len(triangles):
        return np.zeros((height, width), np.uint8)
    z = vertices[:, 2].astype(np.float64)
    used = z[triangles]
    near, far = used.max(), used.min()
    level = 255.0 * (z - far) / (near - far) if near > far else np.full_like(z, 255.0)
    result = rasterize(vertices, triangles, level[:, None], height, width)
    return _to_uint8(result.image.reshape(height, width))


def render_pncc(
    vertices: np.ndarray, triangles: np.ndarray, height: int, width: int, ncc: np.ndarray
) -> np.ndarray:
    """Projected normalised coordinate code (PNCC) image, RGB uint8 ``(H, W, 3)``.

    Args:
        ncc: ``(N, 3)`` per-vertex code in [0, 1] (usually the mean shape's
            coordinates normalised to the unit cube), interpolated over the
            visible surface and scaled to [0, 255]. Empty pixels are 0.
    """
    vertices, triangles = as_mesh(vertices, triangles)
    ncc = np.asarray(ncc)
    if ncc.shape != (len(vertices), 3):
        raise RenderError(f"ncc must have shape ({len(vertices)}, 3), got {ncc.shape}")
    if not is_real(ncc) or not np.all((ncc >= 0) & (ncc <= 1)):
        raise RenderError("ncc values must lie in [0, 1]")
    result = rasterize(vertices, triangles, ncc, height, width)
    return _to_uint8(result.image, 255.0)
