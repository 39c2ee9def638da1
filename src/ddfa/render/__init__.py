"""CPU rendering (numba z-buffer rasteriser) and drawing helpers."""

from ._checks import RenderError
from .draw import LANDMARK_CONTOURS, draw_box, draw_landmarks, draw_points, draw_pose_axes
from .raster import RenderResult, rasterize
from .shading import render_depth, render_pncc, render_shaded, vertex_normals

__all__ = [
    "LANDMARK_CONTOURS",
    "RenderError",
    "RenderResult",
    "draw_box",
    "draw_landmarks",
    "draw_points",
    "draw_pose_axes",
    "rasterize",
    "render_depth",
    "render_pncc",
    "render_shaded",
    "vertex_normals",
]
