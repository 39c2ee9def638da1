"""Write the results of one image: drawings and exports, named after the image.

File names, for an image with stem ``S`` (``i`` = face index, 0 = highest score):

- drawings: ``S_<kind>.jpg`` for the overlays (``S_overlay.jpg`` when combined),
  ``S_depth.png``, ``S_pncc.png``, ``S_face<i>_uv.png``;
- exports: ``S.json`` (all faces, every field but the dense mesh), ``S.npz``
  (every field, dense vertices and triangles included), ``S_face<i>.obj`` with
  ``.mtl`` and ``.png`` texture, ``S_face<i>.ply`` (vertex colours),
  ``S_face<i>.glb`` (embedded texture).

Meshes are exported in image pixels in a right-handed y-up frame:
``(x, H - 1 - y, z)`` of the image frame, so that a front view of the mesh
lines up with the photo. Every file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ddfa.errors import InputError
from ddfa.export.mesh import write_glb, write_json, write_npz, write_obj, write_ply
from ddfa.io import save_image
from ddfa.pipeline.face import Face, faces_to_arrays
from ddfa.pipeline.kinds import DRAW_KINDS, EXPORT_FORMATS, OVERLAY_KINDS
from ddfa.pipeline.visualize import draw_faces, render, uv_layout, uv_texture, vertex_colors

__all__ = ["EXPORT_FORMATS", "mesh_vertices_y_up", "results_dict", "save_outputs"]


def mesh_vertices_y_up(face: Face, height: int) -> np.ndarray:
    """float32 ``(N, 3)`` dense vertices as ``(x, height - 1 - y, z)`` (right-handed, y up)."""
    v = face.vertices.copy()
    v[:, 1] = height - 1 - v[:, 1]
    return v


def results_dict(faces: Sequence[Face], image_shape: tuple[int, ...], source: str | None = None) -> dict:
    """JSON-ready summary of one image: its size and every face's :meth:`Face.to_dict`."""
    return {"image": source, "width": int(image_shape[1]), "height": int(image_shape[0]),
            "faces": [f.to_dict() for f in faces]}


def _check_kinds(kinds: Sequence[str], allowed: Sequence[str], what: str) -> list[str]:
    kinds = list(dict.fromkeys(kinds))
    bad = [k for k in kinds if k not in allowed]
    if bad:
        raise InputError(f"unknown {what} {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}")
    return kinds


def save_outputs(
    out_dir: str | os.PathLike,
    stem: str,
    image: np.ndarray,
    faces: Sequence[Face],
    draw: Sequence[str] = (),
    export: Sequence[str] = (),
    combine: bool = False,
    uv_size: int = 512,
    source: str | None = None,
) -> list[Path]:
    """Write the requested drawings and exports of one image's faces; returns the files written.

    Args:
        out_dir: destination folder (created).
        stem: base name of the files.
        image: the RGB uint8 image the faces were found in.
        draw: kinds among ``DRAW_KINDS``; exports: formats among ``EXPORT_FORMATS``.
        combine: layer all overlay kinds of ``draw`` into one ``S_overlay.jpg``.
        uv_size: side of the UV textures (drawing ``uv`` and mesh exports).
        source: the image's path, recorded in the JSON.

    With no face, only ``json`` and ``npz`` are written (with an empty face list). All or nothing:
    when a write fails or is interrupted (Ctrl-C), the files already written for this image are
    removed before the error goes on.
    """
    draw = _check_kinds(draw, DRAW_KINDS, "drawing")
    export = _check_kinds(export, EXPORT_FORMATS, "export format")
    written: list[Path] = []
    try:
        _write_all(Path(out_dir), stem, image, faces, draw, export, combine, uv_size, source, written)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def _write_all(out: Path, stem: str, image: np.ndarray, faces: Sequence[Face], draw: list[str], export: list[str],
               combine: bool, uv_size: int, source: str | None, written: list[Path]) -> None:
    """The body of :func:`save_outputs`; appends each file to ``written`` as soon as it exists."""
    if "json" in export:
        written.append(write_json(out / f"{stem}.json", results_dict(faces, image.shape, source)))
    if "npz" in export:
        written.append(write_npz(out / f"{stem}.npz", faces_to_arrays(list(faces), dense=True)))
    if not faces:
        return

    overlays = [k for k in draw if k in OVERLAY_KINDS]
    if combine and overlays:
        written.append(save_image(out / f"{stem}_overlay.jpg", draw_faces(image, faces, overlays)))
        draw = [k for k in draw if k not in OVERLAY_KINDS]
    for kind in draw:
        pictures = render(image, faces, kind, uv_size)
        if kind == "uv":
            for i, picture in enumerate(pictures):
                written.append(save_image(out / f"{stem}_face{i}_uv.png", picture))
        else:
            written.append(save_image(out / f"{stem}_{kind}.{'jpg' if kind in OVERLAY_KINDS else 'png'}",
                                      pictures[0]))

    meshes = [fmt for fmt in export if fmt in ("obj", "ply", "glb")]
    for i, face in enumerate(faces if meshes else ()):
        verts = mesh_vertices_y_up(face, image.shape[0])
        base = out / f"{stem}_face{i}"
        if "ply" in meshes:
            written.append(write_ply(base.with_suffix(".ply"), verts, face.triangles, vertex_colors(image, face)[0]))
        if "obj" in meshes or "glb" in meshes:
            uv, tri_uv, _ = uv_layout(face.model)
            texture = uv_texture(image, face, uv_size)
            if "obj" in meshes:
                written += write_obj(base.with_suffix(".obj"), verts, face.triangles, uv, tri_uv, texture)
            if "glb" in meshes:
                written.append(write_glb(base.with_suffix(".glb"), verts, face.triangles, uv, tri_uv, texture))
