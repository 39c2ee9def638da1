"""Mesh visualisations built on :func:`~ddfa.render.raster.rasterize`.

All functions take vertices in the image frame (x right, y down, in pixels; z
larger = closer) and int32 ``(F, 3)`` triangles wound counter-clockwise as seen
by the viewer in a y-up frame (the project convention).
"""

from __future__ import annotations

import numpy as np

from ._checks import RenderError, as_color, as_fraction, as_image, as_mesh, as_size
from .raster import rasterize

__all__ = ["vertex_normals", "render_shaded", "render_depth", "render_pncc"]


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, float32 ``(N, 3)``, in the frame of ``vertices``.

    For image-frame vertices and project-convention winding, the normals of
    surfaces facing the viewer have positive z. Vertices used by no triangle
    (or only by degenerate ones) get a zero normal.
    """
    vertices, triangles = as_mesh(vertices, triangles)
    v = vertices.astype(np.float64)
    p0, p1, p2 = v[triangles[:, 0]], v[triangles[:, 1]], v[triangles[:, 2]]
    # The image frame (y down, z towards the viewer) is left-handed, hence the
    # reversed cross product: it equals the right-handed normal of the y-up frame.
    face = np.cross(p2 - p0, p1 - p0)  # length = twice the area
    ids = triangles.ravel()
    normals = np.stack(
        [np.bincount(ids, np.repeat(face[:, k], 3), minlength=len(v)) for k in range(3)], axis=1
    )
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
    """Draw the mesh with smooth Lambert + ambient shading, blended over ``image``.

    Args:
        image: RGB uint8 ``(H, W, 3)``; not modified.
        vertices, triangles: the mesh in the frame of ``image``.
        light_dir: direction towards the light in the image frame (default:
            from the viewer, slightly upper left).
        alpha: opacity of the mesh in [0, 1].
        color: RGB albedo of the mesh in [0, 255].
        ambient: share of ``color`` lit regardless of orientation, in [0, 1].

    Returns:
        A new RGB uint8 ``(H, W, 3)`` image. Lighting is two-sided: visible
        surfaces facing away from the viewer are lit like their front side.
    """
    out = as_image(image)
    alpha, ambient = as_fraction(alpha, "alpha"), as_fraction(ambient, "ambient")
    color = as_color(color)
    light = np.asarray(light_dir, dtype=np.float64)
    if light.shape != (3,) or not np.isfinite(light).all() or not np.linalg.norm(light) > 0:
        raise RenderError(f"light_dir must be a non-zero 3-vector, got {light.tolist()}")
    light /= np.linalg.norm(light)

    normals = vertex_normals(vertices, triangles)
    result = rasterize(vertices, triangles, normals, *out.shape[:2])
    n = result.image[result.mask].astype(np.float64)
    n *= np.where(n[:, 2:] < 0, -1.0, 1.0)  # two-sided lighting
    norm = np.linalg.norm(n, axis=1)
    lambert = np.clip(n @ light / np.maximum(norm, 1e-12), 0.0, 1.0)
    shade = (ambient + (1.0 - ambient) * lambert)[:, None] * color
    out[result.mask] = np.rint((1.0 - alpha) * out[result.mask] + alpha * shade).astype(np.uint8)
    return out


def render_depth(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Grey-level depth map, uint8 ``(H, W)``.

    Depth is scaled linearly so that the nearest vertex of the mesh maps to 255
    and the farthest to 0; empty pixels are 0.
    """
    vertices, triangles = as_mesh(vertices, triangles)
    height, width = as_size(height, width)
    out = np.zeros((height, width), np.uint8)
    if not len(triangles):
        return out
    z = vertices[np.unique(triangles), 2].astype(np.float64)
    result = rasterize(vertices, triangles, vertices[:, 2:], height, width)
    near, far = z.max(), z.min()
    visible = result.depth[result.mask].astype(np.float64)
    scaled = (visible - far) / (near - far) if near > far else np.ones_like(visible)
    out[result.mask] = np.rint(255.0 * np.clip(scaled, 0.0, 1.0)).astype(np.uint8)
    return out


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
    if not np.issubdtype(ncc.dtype, np.number) or not np.all((ncc >= 0) & (ncc <= 1)):
        raise RenderError("ncc values must lie in [0, 1]")
    result = rasterize(vertices, triangles, ncc, height, width)
    return np.rint(255.0 * np.clip(result.image, 0.0, 1.0)).astype(np.uint8)
