"""Atomic writers for meshes (OBJ + MTL + texture, PLY, GLB) and results (JSON, NPZ).

Every writer builds the whole file in memory, writes it to a temporary file in
the destination folder and renames it into place, so a reader never sees a
partial file. Parent folders are created.

Mesh writers take vertices in whatever frame the caller chooses; they expect
triangles wound counter-clockwise as seen from the viewer in a right-handed
y-up frame (the project convention), which is what OBJ, PLY and glTF viewers
take as the front side.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import cv2
import numpy as np

from ddfa.atomic import atomic_write
from ddfa.errors import InputError

__all__ = ["atomic_write", "write_glb", "write_json", "write_npz", "write_obj", "write_ply"]

PathLike = str | os.PathLike


def _check_mesh(vertices, triangles) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, np.float32)
    f = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise InputError(f"vertices must be finite (N, 3), got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer) or (
            f.size and (f.min() < 0 or f.max() >= len(v))):
        raise InputError(f"triangles must be (F, 3) integer ids into {len(v)} vertices")
    return v, f.astype(np.int64)


def _check_uv(uv, triangle_uv, n_triangles: int) -> tuple[np.ndarray, np.ndarray]:
    uv = np.asarray(uv, np.float32)
    tuv = np.asarray(triangle_uv)
    if uv.ndim != 2 or uv.shape[1] != 2 or tuv.shape != (n_triangles, 3) or (
            tuv.size and (tuv.min() < 0 or tuv.max() >= len(uv))):
        raise InputError(f"uv must be (U, 2) and triangle_uv ({n_triangles}, 3) ids into it")
    return uv, tuv.astype(np.int64)


def _check_colors(colors, n: int) -> np.ndarray:
    c = np.asarray(colors)
    if c.shape != (n, 3) or c.dtype != np.uint8:
        raise InputError(f"colors must be uint8 ({n}, 3) RGB, got {c.dtype} {c.shape}")
    return c


def _png(image: np.ndarray) -> bytes:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise InputError("texture must be an RGB uint8 (H, W, 3) array")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError("cannot encode the texture as PNG")
    return buf.tobytes()


def _rows(fmt: str, array: np.ndarray) -> str:
    buf = io.StringIO()
    np.savetxt(buf, array, fmt=fmt)
    return buf.getvalue()


def write_obj(
    path: PathLike,
    vertices: np.ndarray,
    triangles: np.ndarray,
    uv: np.ndarray | None = None,
    triangle_uv: np.ndarray | None = None,
    texture: np.ndarray | None = None,
    colors: np.ndarray | None = None,
) -> list[Path]:
    """Wavefront OBJ, optionally with texture coordinates and a texture.

    Args:
        vertices: ``(N, 3)``; triangles: ``(F, 3)`` ids into them.
        uv, triangle_uv: ``(U, 2)`` texture coordinates (v up) and ``(F, 3)`` ids
            into ``uv`` per triangle corner: written as ``vt`` and ``f v/vt``.
        texture: RGB uint8 image; written as ``<stem>.png`` with a ``<stem>.mtl``
            material (``map_Kd``) next to the OBJ. Needs ``uv``.
        colors: uint8 ``(N, 3)`` per-vertex colours (the common ``v x y z r g b`` extension).

    Returns:
        The files written (OBJ first).
    """
    path = Path(path)
    v, f = _check_mesh(vertices, triangles)
    if texture is not None and uv is None:
        raise InputError("a texture needs uv coordinates")
    parts = ["# written by ddfa\n"]
    written: list[Path] = []
    if texture is not None:
        png, mtl = path.with_suffix(".png"), path.with_suffix(".mtl")
        written += [atomic_write(png, _png(texture)),
                    atomic_write(mtl, f"newmtl face\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nillum 1\nmap_Kd {png.name}\n"
                                      .encode())]
        parts.append(f"mtllib {mtl.name}\nusemtl face\n")
    if colors is not None:
        c = _check_colors(colors, len(v)).astype(np.float32) / 255.0
        parts.append(_rows("v %.4f %.4f %.4f %.4f %.4f %.4f", np.hstack([v, c])))
    else:
        parts.append(_rows("v %.4f %.4f %.4f", v))
    if uv is not None:
        uv, tuv = _check_uv(uv, triangle_uv, len(f))
        parts.append(_rows("vt %.6f %.6f", uv))
        corners = np.stack([f + 1, tuv + 1], -1).reshape(-1, 6)
        parts.append(_rows("f %d/%d %d/%d %d/%d", corners))
    else:
        parts.append(_rows("f %d %d %d", f + 1))
    return [atomic_write(path, "".join(parts).encode()), *written]


def write_ply(path: PathLike, vertices: np.ndarray, triangles: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY with optional uint8 ``(N, 3)`` vertex colours."""
    v, f = _check_mesh(vertices, triangles)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    props = "property float x\nproperty float y\nproperty float z\n"
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        props += "property uchar red\nproperty uchar green\nproperty uchar blue\n"
    vert = np.empty(len(v), fields)
    vert["x"], vert["y"], vert["z"] = v.T
    if colors is not None:
        c = _check_colors(colors, len(v))
        vert["red"], vert["green"], vert["blue"] = c.T
    face = np.empty(len(f), [("n", "u1"), ("ids", "<i4", (3,))])
    face["n"], face["ids"] = 3, f
    header = (f"ply\nformat binary_little_endian 1.0\ncomment written by ddfa\nelement vertex {len(v)}\n{props}"
              f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n")
    return atomic_write(path, header.encode() + vert.tobytes() + face.tobytes())


def write_glb(
    path: PathLike,
    vertices: np.ndarray,
    triangles: np.ndarray,
    uv: np.ndarray | None = None,
    triangle_uv: np.ndarray | None = None,
    texture: np.ndarray | None = None,
    colors: np.ndarray | None = None,
) -> Path:
    """Binary glTF 2.0 (one mesh, unlit-friendly PBR material).

    With ``uv``/``triangle_uv`` and ``texture``, vertices are split along UV
    seams (one glTF vertex per UV vertex) and the texture is embedded as PNG;
    otherwise ``colors`` (uint8 ``(N, 3)``) become ``COLOR_0``.
    """
    v, f = _check_mesh(vertices, triangles)
    attrs: dict[str, np.ndarray] = {}
    if texture is not None:
        if uv is None:
            raise InputError("a texture needs uv coordinates")
        uv, tuv = _check_uv(uv, triangle_uv, len(f))
        vertex_of_uv = np.zeros(len(uv), np.int64)
        vertex_of_uv[tuv.ravel()] = f.ravel()
        positions, indices = v[vertex_of_uv], tuv
        attrs["TEXCOORD_0"] = np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1).astype(np.float32)  # glTF: v down
    else:
        positions, indices = v, f
        if colors is not None:
            attrs["COLOR_0"] = _check_colors(colors, len(v)).astype(np.float32) / 255.0
    attrs = {"POSITION": positions.astype(np.float32), **attrs}

    blobs: list[bytes] = []
    views, accessors = [], []

    def add_view(data: bytes, target: int | None = None) -> int:
        offset = sum(len(b) for b in blobs)
        blobs.append(data + b"\0" * (-len(data) % 4))
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data)} | (
            {"target": target} if target else {}))
        return len(views) - 1

    def add_accessor(array: np.ndarray, kind: str, component: int, target: int) -> int:
        acc = {"bufferView": add_view(array.tobytes(), target), "componentType": component,
               "count": len(array) if kind != "SCALAR" else array.size, "type": kind}
        if kind == "VEC3" and array.dtype == np.float32:
            acc |= {"min": array.min(0).tolist(), "max": array.max(0).tolist()}
        accessors.append(acc)
        return len(accessors) - 1

    float_type, uint_type, array_buffer, element_buffer = 5126, 5125, 34962, 34963
    attributes = {name: add_accessor(a, f"VEC{a.shape[1]}", float_type, array_buffer) for name, a in attrs.items()}
    index_acc = add_accessor(indices.astype(np.uint32).ravel(), "SCALAR", uint_type, element_buffer)
    material: dict = {"pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 1.0}, "doubleSided": True}
    gltf: dict = {"asset": {"version": "2.0", "generator": "ddfa"}, "scene": 0, "scenes": [{"nodes": [0]}],
                  "nodes": [{"mesh": 0}],
                  "meshes": [{"primitives": [{"attributes": attributes, "indices": index_acc, "material": 0}]}]}
    if texture is not None:
        gltf["images"] = [{"bufferView": add_view(_png(texture)), "mimeType": "image/png"}]
        gltf["samplers"] = [{"magFilter": 9729, "minFilter": 9729, "wrapS": 33071, "wrapT": 33071}]
        gltf["textures"] = [{"source": 0, "sampler": 0}]
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    binary = b"".join(blobs)
    gltf |= {"materials": [material], "bufferViews": views, "accessors": accessors,
             "buffers": [{"byteLength": len(binary)}]}
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    data = (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(text), b"JSON") + text
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)
    return atomic_write(path, data)


def write_json(path: PathLike, obj) -> Path:
    """Compact UTF-8 JSON (``obj`` must hold only JSON types)."""
    return atomic_write(path, json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def write_npz(path: PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Compressed ``.npz`` of named arrays."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(path, buf.getvalue())
