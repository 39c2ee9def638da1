"""Pictures of aligned faces: overlays, depth and PNCC maps, per-vertex colours and UV textures.

Meshes are rasterised only inside each face's bounding window, so the cost
follows the face size, not the image size (a 10k x 10k photo is fine). Images
are RGB uint8 ``(H, W, 3)``; inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from ddfa.errors import InputError
from ddfa.morphable import FaceModel
from ddfa.pipeline.face import Face
from ddfa.pipeline.kinds import DRAW_KINDS, OVERLAY_KINDS
from ddfa.render import (
    draw_box,
    draw_landmarks,
    draw_points,
    draw_pose_axes,
    rasterize,
    render_depth,
    render_pncc,
    render_shaded,
)

__all__ = [
    "DRAW_KINDS",
    "OVERLAY_KINDS",
    "draw_faces",
    "render",
    "render_depth_map",
    "render_pncc_map",
    "uv_layout",
    "uv_texture",
    "vertex_colors",
]

_NOSE_TIP = 30  # iBUG-68 index


def _window(vertices: np.ndarray, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Pixel window (x0, y0, x1, y1), end-exclusive, covering the vertices' pixel centres inside the image."""
    lo = np.floor(vertices[:, :2].min(0)).astype(int)
    hi = np.ceil(vertices[:, :2].max(0)).astype(int) + 1
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], width), min(hi[1], height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _shifted(vertices: np.ndarray, x0: int, y0: int) -> np.ndarray:
    out = vertices.astype(np.float32, copy=True)
    out[:, 0] -= x0
    out[:, 1] -= y0
    return out


def _far_to_near(faces: Sequence[Face]) -> list[Face]:
    """Faces sorted so that the largest (nearest) one is drawn last."""
    return sorted(faces, key=lambda f: f.pose.scale)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"expected an RGB uint8 image (H, W, 3), got {desc}; use ddfa.io.load_image")
    return image


def draw_faces(image: np.ndarray, faces: Sequence[Face], kinds: Sequence[str] = ("landmarks",)) -> np.ndarray:
    """Draw overlay ``kinds`` (a subset of ``OVERLAY_KINDS``) of every face over a copy of ``image``.

    Layers go in the order of ``OVERLAY_KINDS`` whatever the order of ``kinds``:
    shaded mesh, dense points, 68 landmarks, box (with score and track id), pose axes.
    """
    out = _check_image(image).copy()
    unknown = set(kinds) - set(OVERLAY_KINDS)
    if unknown:
        raise InputError(f"unknown overlay kind(s) {sorted(unknown)}; choose from {', '.join(OVERLAY_KINDS)}")
    h, w = out.shape[:2]
    faces = _far_to_near(faces)
    for kind in (k for k in OVERLAY_KINDS if k in kinds):
        for face in faces:
            if kind == "mesh":
                win = _window(face.vertices, h, w)
                if win is not None:
                    x0, y0, x1, y1 = win
                    out[y0:y1, x0:x1] = render_shaded(out[y0:y1, x0:x1], _shifted(face.vertices, x0, y0),
                                                      face.model.face_triangles)
            elif kind == "points":
                out = draw_points(out, face.vertices[::2], color=(64, 160, 255))
            elif kind == "landmarks":
                out = draw_landmarks(out, face.landmarks, color=(0, 255, 0))
            elif kind == "box":
                label = None if face.track_id is None else f"#{face.track_id}"
                out = draw_box(out, face.box, score=face.score, label=label, color=(255, 200, 0))
            elif kind == "pose":
                size = 0.5 * float(np.ptp(face.landmarks, axis=0).max())
                out = draw_pose_axes(out, face.pose.rotation, face.landmarks[_NOSE_TIP], size)
    return out


def render_depth_map(faces: Sequence[Face], height: int, width: int) -> np.ndarray:
    """uint8 ``(H, W)`` depth of all faces, each scaled from 0 (its farthest vertex) to 255 (nearest); 0 = empty."""
    out = np.zeros((height, width), np.uint8)
    for face in _far_to_near(faces):
        win = _window(face.vertices, height, width)
        if win is not None:
            x0, y0, x1, y1 = win
            depth = render_depth(_shifted(face.vertices, x0, y0), face.model.face_triangles, y1 - y0, x1 - x0)
            cv2.copyTo(depth, (depth > 0).view(np.uint8), out[y0:y1, x0:x1])
    return out


@lru_cache(maxsize=4)
def _ncc(model: FaceModel) -> np.ndarray:
    """(N, 3) mean-shape coordinates normalised to [0, 1] per axis (the PNCC code)."""
    lo, hi = model.mean.min(0), model.mean.max(0)
    return ((model.mean - lo) / (hi - lo)).astype(np.float32)


def render_pncc_map(faces: Sequence[Face], height: int, width: int) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` projected normalised coordinate code of all faces; black = empty."""
    out = np.zeros((height, width, 3), np.uint8)
    for face in _far_to_near(faces):
        win = _window(face.vertices, height, width)
        if win is not None:
            x0, y0, x1, y1 = win
            verts = _shifted(face.vertices, x0, y0)
            tri = face.model.face_triangles
            code = render_pncc(verts, tri, y1 - y0, x1 - x0, _ncc(face.model))
            mask = rasterize(verts, tri, np.zeros((len(verts), 1), np.float32), y1 - y0, x1 - x0).mask
            cv2.copyTo(code, mask.view(np.uint8), out[y0:y1, x0:x1])
    return out


def vertex_colors(image: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
    """Sample the image under each dense vertex.

    A vertex hidden by the face itself (z-buffer test) takes the colour of its
    mirror twin when that one is visible, else the colour under its projection.

    Returns:
        colors: uint8 ``(N, 3)`` RGB.
        visible: bool ``(N,)`` whether each vertex is seen in the image.
    """
    image = _check_image(image)
    h, w = image.shape[:2]
    verts = face.vertices
    xy = verts[:, :2].astype(np.float32)
    colors = cv2.remap(image, xy[:, None, 0].copy(), xy[:, None, 1].copy(), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)[:, 0]
    visible = np.zeros(len(verts), bool)
    win = _window(verts, h, w)
    if win is not None:
        x0, y0, x1, y1 = win
        shifted = _shifted(verts, x0, y0)
        depth = rasterize(shifted, face.triangles, np.zeros((len(verts), 1), np.float32), y1 - y0, x1 - x0).depth
        col = np.rint(shifted[:, 0]).astype(int)
        row = np.rint(shifted[:, 1]).astype(int)
        inside = (col >= 0) & (col < x1 - x0) & (row >= 0) & (row < y1 - y0)
        tol = 0.02 * float(np.ptp(face.landmarks, axis=0).max())
        visible[inside] = verts[inside, 2] >= depth[row[inside], col[inside]] - tol
    twin = face.model.symmetry
    use_twin = ~visible & visible[twin]
    colors[use_twin] = colors[twin[use_twin]]
    return colors, visible


@lru_cache(maxsize=4)
def uv_layout(model: FaceModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face's UV mesh: one UV vertex per distinct (vertex, uv) corner of the triangles.

    Returns:
        uv: float32 ``(U, 2)`` texture coordinates in [0, 1] (v up, OBJ convention).
        triangles: int32 ``(F, 3)`` ids into ``uv``, corner for corner with ``model.triangles``.
        vertex: int32 ``(U,)`` the dense vertex of each UV vertex.
    """
    used, triangles = np.unique(model.triangle_uv, return_inverse=True)
    vertex = np.empty(len(used), np.int32)
    vertex[triangles.ravel()] = model.triangles.ravel()
    return model.uv[used].astype(np.float32), triangles.reshape(-1, 3).astype(np.int32), vertex


def uv_texture(image: np.ndarray, face: Face, size: int = 512) -> np.ndarray:
    """The face's texture in the model's UV layout, RGB uint8 ``(size, size, 3)``.

    Per-vertex colours (:func:`vertex_colors`) are rasterised in UV space
    (``u * size``, ``(1 - v) * size``, pixel-edge convention), and the texture
    is padded a few pixels beyond the UV islands so that bilinear lookups at
    their borders stay clean.
    """
    if not (isinstance(size, int) and size >= 16):
        raise InputError(f"texture size must be an integer >= 16, got {size!r}")
    colors, _ = vertex_colors(image, face)
    uv, triangles, vertex = uv_layout(face.model)
    pos = np.zeros((len(uv), 3), np.float32)
    pos[:, 0] = uv[:, 0] * size - 0.5
    pos[:, 1] = (1.0 - uv[:, 1]) * size - 0.5
    res = rasterize(pos, triangles, colors[vertex].astype(np.float32), size, size)
    tex = np.clip(np.rint(res.image), 0, 255).astype(np.uint8)
    mask = res.mask
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(4):  # bleed the colours outwards
        grown = cv2.dilate(mask.view(np.uint8), kernel).view(bool)
        ring = grown & ~mask
        tex[ring] = cv2.dilate(tex * mask[..., None].view(np.uint8), kernel)[ring]
        mask = grown
    return tex


def render(image: np.ndarray, faces: Sequence[Face], kind: str, uv_size: int = 512) -> list[np.ndarray]:
    """One drawing ``kind`` (see ``DRAW_KINDS``) as a list of images: one image, or one UV texture per face."""
    image = _check_image(image)
    h, w = image.shape[:2]
    if kind in OVERLAY_KINDS:
        return [draw_faces(image, faces, (kind,))]
    if kind == "depth":
        return [render_depth_map(faces, h, w)]
    if kind == "pncc":
        return [render_pncc_map(faces, h, w)]
    if kind == "uv":
        return [uv_texture(image, f, uv_size) for f in faces]
    raise InputError(f"unknown drawing '{kind}'; choose from {', '.join(DRAW_KINDS)}")
