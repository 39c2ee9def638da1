"""Tests of ddfa.render: the numba rasteriser, mesh visualisations and drawing helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddfa.errors import InputError
from ddfa.render import (
    RenderError,
    draw_box,
    draw_landmarks,
    draw_points,
    draw_pose_axes,
    rasterize,
    render_depth,
    render_pncc,
    render_shaded,
    vertex_normals,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ICT = DATA / "ict-face-model" / "ict_face_model_light.npz"
FACE_VERTICES = 9409  # the ICT "full face area" is vertices [0, 9408]


def _mesh(vertices, triangles):
    return np.asarray(vertices, np.float32), np.asarray(triangles, np.int32)


def _triangle_area(p):
    return 0.5 * abs((p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[1, 1] - p[0, 1]) * (p[2, 0] - p[0, 0]))


def _rot_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


@pytest.fixture(scope="module")
def ict_face():
    """ICT neutral face area scaled into a 120x120 image frame: (vertices, triangles, landmarks_68)."""
    if not ICT.exists():
        pytest.skip(f"ICT face model not found at {ICT} (the shared data folder ../shared is missing)")
    model = np.load(ICT)
    faces = model["faces"]
    faces = faces[(faces[:, :3] < FACE_VERTICES).all(1) & (faces[:, 3] < FACE_VERTICES)]
    quads = faces[faces[:, 3] >= 0]
    triangles = np.concatenate([faces[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.int32)
    neutral = model["neutral"][:FACE_VERTICES].astype(np.float64)
    # Model frame (cm; y up, z towards the viewer) -> image frame (px; y down).
    size = 120
    lo, hi = neutral[:, :2].min(0), neutral[:, :2].max(0)
    scale = 0.9 * size / (hi - lo).max()
    centre = (lo + hi) / 2
    vertices = np.empty_like(neutral)
    vertices[:, 0] = (neutral[:, 0] - centre[0]) * scale + (size - 1) / 2
    vertices[:, 1] = -(neutral[:, 1] - centre[1]) * scale + (size - 1) / 2
    vertices[:, 2] = neutral[:, 2] * scale
    return vertices.astype(np.float32), triangles, model["landmarks_68"]


# --------------------------------------------------------------------------- rasterize


def test_triangle_coverage_matches_area():
    rng = np.random.default_rng(0)
    for _ in range(20):
        points = rng.uniform(5, 195, size=(3, 2))
        area = _triangle_area(points)
        if area < 500:
            continue
        perimeter = np.linalg.norm(points - np.roll(points, 1, axis=0), axis=1).sum()
        vertices, triangles = _mesh(np.c_[points, np.zeros(3)], [[0, 1, 2]])
        result = rasterize(vertices, triangles, np.ones((3, 1)), 200, 200)
        # Pixel-centre sampling errs by at most about half a pixel along the boundary.
        assert abs(result.mask.sum() - area) <= 0.5 * perimeter + 1
        assert abs(result.mask.sum() - area) <= 0.05 * area


def test_shared_edges_cover_each_pixel_exactly_once():
    # A fan of random triangles around a centre: summed per-triangle coverage must
    # equal the coverage of the whole polygon (no double-drawn or missing pixels).
    rng = np.random.default_rng(1)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    radii = rng.uniform(15, 30, 12)
    rim = np.c_[32 + radii * np.cos(angles), 32 + radii * np.sin(angles)]
    points = np.vstack([[32.0, 32.0], rim])
    triangles = np.array([[0, 1 + i, 1 + (i + 1) % 12] for i in range(12)])
    vertices, triangles = _mesh(np.c_[points, np.zeros(13)], triangles)
    union = rasterize(vertices, triangles, np.ones((13, 1)), 64, 64).mask.sum()
    parts = sum(rasterize(vertices, t[None], np.ones((13, 1)), 64, 64).mask.sum() for t in triangles)
    assert union == parts


def test_pixel_centres_on_edges_are_owned_once():
    # A square with corners on pixel centres, split along a diagonal through centres.
    vertices, triangles = _mesh([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], [[0, 1, 2], [0, 2, 3]])
    attrs = np.ones((4, 1))
    union = rasterize(vertices, triangles, attrs, 16, 16)
    parts = [rasterize(vertices, t[None], attrs, 16, 16).mask for t in triangles]
    assert union.mask.sum() == parts[0].sum() + parts[1].sum() == 100
    assert not (parts[0] & parts[1]).any()


def test_z_buffer_keeps_nearest_triangle_in_any_order():
    big = [[2, 2], [60, 4], [10, 58]]
    small = [[20, 20], [40, 22], [25, 40]]
    for z_big, z_small in [(1.0, 5.0), (5.0, 1.0)]:
        points = np.r_[np.c_[big, np.full(3, z_big)], np.c_[small, np.full(3, z_small)]]
        for order in ([[0, 1, 2], [3, 4, 5]], [[3, 4, 5], [0, 1, 2]]):
            vertices, triangles = _mesh(points, order)
            result = rasterize(vertices, triangles, np.ones((6, 1)), 64, 64)
            near = 0 if z_big > z_small else 1  # 0 = big triangle
            expected_id = [i for i, t in enumerate(order) if (t[0] == 0) == (near == 0)][0]
            assert result.triangle_id[28, 28] == expected_id
            assert result.depth[28, 28] == pytest.approx(max(z_big, z_small))


def test_interpolation_is_barycentric():
    points = np.array([[3.0, 6.0, 1.0], [30.0, 9.0, 4.0], [12.0, 36.0, -2.0]])  # centroid (15, 17)
    vertices, triangles = _mesh(points, [[0, 1, 2]])
    # Linear attributes (here the positions themselves) are reproduced exactly.
    result = rasterize(vertices, triangles, np.c_[points, np.eye(3)], 40, 40)
    rows, cols = np.nonzero(result.mask)
    np.testing.assert_allclose(result.image[rows, cols, 0], cols, atol=1e-4)
    np.testing.assert_allclose(result.image[rows, cols, 1], rows, atol=1e-4)
    np.testing.assert_allclose(result.image[rows, cols, 2], result.depth[rows, cols], atol=1e-4)
    # One-hot attributes give the barycentric coordinates.
    np.testing.assert_allclose(result.image[17, 15, 3:], [1 / 3] * 3, atol=1e-6)
    p0, e1, e2 = points[0, :2], points[1, :2] - points[0, :2], points[2, :2] - points[0, :2]
    local = np.c_[cols, rows] - p0
    l12 = np.linalg.solve(np.c_[e1, e2], local.T).T
    expected = np.c_[1 - l12.sum(1), l12]
    np.testing.assert_allclose(result.image[rows, cols, 3:], expected, atol=1e-5)
    np.testing.assert_allclose(result.image[rows, cols, 3:].sum(-1), 1, atol=1e-5)
    assert (result.image[rows, cols, 3:] >= 0).all()


def test_partly_outside_triangle_is_clipped():
    points = np.array([[-30.25, -10.5, 0], [50.75, 12.25, 1], [5.5, 70.25, 2]])
    vertices, triangles = _mesh(points, [[0, 1, 2]])
    clipped = rasterize(vertices, triangles, points, 40, 32)
    # Reference: the same triangle fully inside a larger canvas, cropped.
    shift = np.array([64, 64, 0])
    full = rasterize((points + shift).astype(np.float32), triangles, points, 200, 200)
    crop = (slice(64, 64 + 40), slice(64, 64 + 32))
    assert clipped.mask.any() and not clipped.mask.all()
    np.testing.assert_array_equal(clipped.mask, full.mask[crop])
    np.testing.assert_allclose(clipped.image, full.image[crop], atol=1e-4)
    assert full.mask.sum() > clipped.mask.sum()


def test_huge_triangle_covers_the_whole_image():
    points = np.array([[-1e6, -1e6, 0.0], [3e6, -1e6, 4e6], [-1e6, 3e6, 0.0]])  # z = x + 1e6
    vertices, triangles = _mesh(points, [[0, 1, 2]])
    result = rasterize(vertices, triangles, points[:, 2:] - 1e6, 30, 50)
    assert result.mask.all()
    np.testing.assert_allclose(result.image[..., 0], np.broadcast_to(np.arange(50.0), (30, 50)), atol=0.5)


def test_empty_mesh_and_background():
    vertices, triangles = _mesh(np.zeros((4, 3)), np.zeros((0, 3)))
    result = rasterize(vertices, triangles, np.ones((4, 2)), 8, 5, background=[0.5, -1.0])
    assert result.image.shape == (8, 5, 2) and result.image.dtype == np.float32
    np.testing.assert_array_equal(result.image[..., 0], 0.5)
    np.testing.assert_array_equal(result.image[..., 1], -1.0)
    assert not result.mask.any()
    assert (result.triangle_id == -1).all() and np.isneginf(result.depth).all()


def test_degenerate_and_offscreen_triangles_are_skipped():
    points = [[0, 0, 0], [5, 5, 0], [10, 10, 0], [-50, -50, 0], [-40, -50, 0], [-45, -30, 0]]
    vertices, triangles = _mesh(points, [[0, 1, 2], [3, 4, 5], [1, 1, 1]])
    result = rasterize(vertices, triangles, np.ones((6, 1)), 16, 16)
    assert not result.mask.any()


@pytest.mark.parametrize(
    "vertices, triangles, attributes, size",
    [
        (np.zeros((3, 2)), [[0, 1, 2]], np.ones((3, 1)), (8, 8)),  # 2-D vertices
        (np.zeros((3, 3)), [[0, 1, 3]], np.ones((3, 1)), (8, 8)),  # id out of range
        (np.zeros((3, 3)), [[0, 1, -1]], np.ones((3, 1)), (8, 8)),  # negative id
        (np.zeros((3, 3)), [[0.0, 1.0, 2.0]], np.ones((3, 1)), (8, 8)),  # float ids
        (np.full((3, 3), np.nan), [[0, 1, 2]], np.ones((3, 1)), (8, 8)),  # NaN vertices
        (np.zeros((3, 3)), [[0, 1, 2]], np.ones((2, 1)), (8, 8)),  # attribute count
        (np.zeros((3, 3)), [[0, 1, 2]], np.ones(3), (8, 8)),  # 1-D attributes
        (np.zeros((3, 3)), [[0, 1, 2]], np.ones((3, 1)), (0, 8)),  # empty image
        (np.zeros((3, 3)), [[0, 1, 2]], np.ones((3, 1)), (8.5, 8)),  # fractional size
    ],
)
def test_rasterize_rejects_bad_input(vertices, triangles, attributes, size):
    with pytest.raises(RenderError):
        rasterize(vertices, np.asarray(triangles), attributes, *size)
    assert issubclass(RenderError, InputError) and issubclass(RenderError, ValueError)


def test_bad_background_raises():
    vertices, triangles = _mesh(np.zeros((3, 3)), [[0, 1, 2]])
    with pytest.raises(RenderError, match="background"):
        rasterize(vertices, triangles, np.ones((3, 2)), 4, 4, background=[1, 2, 3])


# --------------------------------------------------------------------------- ICT face


def test_ict_face_render(ict_face):
    vertices, triangles, landmarks = ict_face
    assert 17_000 < len(triangles) < 20_000
    result = rasterize(vertices, triangles, vertices, 120, 120)
    area = result.mask.mean()
    assert 0.3 < area < 0.8, area
    # Interpolating the positions reproduces the pixel grid and the depth buffer.
    rows, cols = np.nonzero(result.mask)
    np.testing.assert_allclose(result.image[rows, cols, 0], cols, atol=1e-3)
    np.testing.assert_allclose(result.image[rows, cols, 1], rows, atol=1e-3)
    np.testing.assert_allclose(result.image[rows, cols, 2], result.depth[rows, cols], atol=1e-3)
    # The z-buffer keeps the front-most surface whatever the drawing order.
    halves = [rasterize(vertices, part, vertices, 120, 120) for part in np.array_split(triangles[::-1], 2)]
    np.testing.assert_array_equal(result.depth, np.maximum(halves[0].depth, halves[1].depth))


def test_ict_depth_is_brightest_at_nose(ict_face):
    vertices, triangles, landmarks = ict_face
    depth = render_depth(vertices, triangles, 120, 120)
    assert depth.dtype == np.uint8 and depth.shape == (120, 120)
    nose = np.rint(vertices[landmarks[30], :2]).astype(int)
    # Cheeks: halfway between the jaw (points 3 / 13) and the nose tip.
    cheeks = np.rint((vertices[landmarks[[3, 13]], :2] + vertices[landmarks[30], :2]) / 2).astype(int)
    nose_value = int(depth[nose[1], nose[0]])
    assert nose_value >= 240
    for x, y in cheeks:
        assert 0 < depth[y, x] < nose_value - 20
    assert (depth[0, :] == 0).all()  # background


def test_ict_normals_face_the_viewer(ict_face):
    vertices, triangles, landmarks = ict_face
    normals = vertex_normals(vertices, triangles)
    used = np.unique(triangles)
    np.testing.assert_allclose(np.linalg.norm(normals[used], axis=1), 1, atol=1e-5)
    assert normals[landmarks[30], 2] > 0.8  # nose tip
    assert normals[landmarks[8], 1] > 0.3  # chin: points down in the image (+y)
    right, left = normals[landmarks[0]], normals[landmarks[16]]  # jaw ends
    assert right[0] < 0 < left[0]  # image-left side points to -x


def test_ict_shaded_and_pncc(ict_face):
    vertices, triangles, _ = ict_face
    image = np.random.default_rng(2).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    before = image.copy()
    shaded = render_shaded(image, vertices, triangles)
    np.testing.assert_array_equal(image, before)
    mask = rasterize(vertices, triangles, np.ones((len(vertices), 1)), 120, 120).mask
    np.testing.assert_array_equal(shaded[~mask], image[~mask])
    assert (shaded[mask] != image[mask]).any(axis=-1).mean() > 0.9

    lo, hi = vertices.min(0), vertices.max(0)
    ncc = (vertices - lo) / (hi - lo)
    pncc = render_pncc(vertices, triangles, 120, 120, ncc)
    assert pncc.dtype == np.uint8 and pncc.shape == (120, 120, 3)
    assert (pncc[~mask] == 0).all()
    # Red follows x: it increases from the left to the right of the face.
    row = pncc[60][mask[60]].astype(int)
    assert row[-1, 0] > row[0, 0] + 100


# --------------------------------------------------------------------------- shading


def test_vertex_normals_of_planes():
    grid = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float64)
    triangles = [[0, 2, 1], [1, 2, 3]]  # counter-clockwise seen from the viewer in y-up
    for slope, expected in [((0.0, 0.0), (0, 0, 1)), ((0.5, 0.0), (-0.5, 0, 1)), ((0.0, 0.5), (0, -0.5, 1))]:
        z = grid @ np.array(slope)
        normals = vertex_normals(np.c_[grid, z], triangles)
        np.testing.assert_allclose(normals, np.tile(expected / np.linalg.norm(expected), (4, 1)), atol=1e-6)
    # An unused vertex gets a zero normal.
    normals = vertex_normals(np.r_[np.c_[grid, np.zeros(4)], [[5, 5, 5]]], triangles)
    np.testing.assert_array_equal(normals[4], 0)


def test_render_shaded_lambert():
    vertices, triangles = _mesh([[0, 0, 0], [0, 20, 0], [20, 0, 0]], [[0, 1, 2]])
    image = np.zeros((24, 24, 3), np.uint8)
    lit = render_shaded(image, vertices, triangles, light_dir=(0, 0, 1), alpha=1.0, color=(200, 100, 50), ambient=0.3)
    grazing = render_shaded(image, vertices, triangles, light_dir=(1, 0, 0), alpha=1.0, color=(200, 100, 50), ambient=0.3)
    np.testing.assert_array_equal(lit[5, 5], [200, 100, 50])
    np.testing.assert_array_equal(grazing[5, 5], [60, 30, 15])
    np.testing.assert_array_equal(lit[20, 20], 0)
    np.testing.assert_array_equal(render_shaded(image, vertices, triangles, alpha=0.0), image)
    half = render_shaded(np.full_like(image, 100), vertices, triangles, light_dir=(0, 0, 1), alpha=0.5, color=(200, 200, 200))
    np.testing.assert_array_equal(half[5, 5], 150)


def test_render_depth_and_pncc_values():
    # A plane rising towards the viewer from left (z=0) to right (z=20).
    vertices, triangles = _mesh([[0, 0, 0], [0, 20, 0], [20, 0, 20], [20, 20, 20]], [[0, 1, 2], [2, 1, 3]])
    depth = render_depth(vertices, triangles, 24, 24)
    assert depth[10, 0] == 0 and depth[10, 19] == 242 and depth[10, 10] == 128
    assert (np.diff(depth[10, :20].astype(int)) > 0).all()
    ncc = np.tile([[0.2, 0.4, 1.0]], (4, 1))
    pncc = render_pncc(vertices, triangles, 24, 24, ncc)
    np.testing.assert_array_equal(pncc[10, 10], [51, 102, 255])
    np.testing.assert_array_equal(pncc[22, 22], 0)


def test_shading_rejects_bad_input():
    vertices, triangles = _mesh([[0, 0, 0], [0, 20, 0], [20, 0, 0]], [[0, 1, 2]])
    image = np.zeros((24, 24, 3), np.uint8)
    with pytest.raises(RenderError):
        render_shaded(image[..., 0], vertices, triangles)
    with pytest.raises(RenderError):
        render_shaded(image.astype(np.float32), vertices, triangles)
    with pytest.raises(RenderError):
        render_shaded(image, vertices, triangles, light_dir=(0, 0, 0))
    with pytest.raises(RenderError):
        render_shaded(image, vertices, triangles, alpha=1.5)
    with pytest.raises(RenderError):
        render_pncc(vertices, triangles, 24, 24, np.full((3, 3), 2.0))
    with pytest.raises(RenderError):
        render_pncc(vertices, triangles, 24, 24, np.zeros((2, 3)))
    with pytest.raises(RenderError):
        vertex_normals(vertices, [[0, 1, 5]])


# --------------------------------------------------------------------------- drawing


@pytest.fixture
def canvas():
    return np.random.default_rng(3).integers(0, 200, (100, 120, 3), dtype=np.uint8)


def _changed(a, b):
    return (a != b).any(axis=-1)


def _assert_colour(pixel, colour, tol=40):
    """Anti-aliased lines reach close to, not exactly, their colour."""
    assert np.abs(pixel.astype(int) - colour).max() <= tol, (pixel, colour)


def test_draw_landmarks(canvas):
    before = canvas.copy()
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    pts = np.c_[60 + 35 * np.cos(angles), 50 + 35 * np.sin(angles)]
    dots = draw_landmarks(canvas, pts, color=(255, 255, 255), lines=False)
    with_lines = draw_landmarks(canvas, np.c_[pts, np.zeros(68)], color=(255, 255, 255))
    np.testing.assert_array_equal(canvas, before)
    assert dots.shape == canvas.shape and dots.dtype == np.uint8
    for x, y in np.rint(pts).astype(int):
        assert (dots[y, x] == 255).all()
    assert _changed(with_lines, canvas).sum() > _changed(dots, canvas).sum()
    assert not _changed(dots, canvas)[50, 60]  # the centre is left alone
    with pytest.raises(RenderError):
        draw_landmarks(canvas, pts[:67])  # the contours need 68 points
    with pytest.raises(RenderError):
        draw_landmarks(canvas[..., 0], pts)
    with pytest.raises(RenderError):
        draw_landmarks(canvas, np.full((68, 2), np.nan))


def test_draw_box(canvas):
    before = canvas.copy()
    out = draw_box(canvas, (20, 30, 80, 70), color=(255, 0, 0), thickness=1)
    np.testing.assert_array_equal(canvas, before)
    _assert_colour(out[30, 50], [255, 0, 0])  # top edge
    _assert_colour(out[50, 80], [255, 0, 0])  # right edge
    assert not _changed(out, canvas)[35:66, 25:76].any()  # interior untouched
    captioned = draw_box(canvas, (20, 30, 80, 70), score=0.93, label="face", color=(255, 0, 0))
    assert _changed(captioned, canvas)[:29, 20:80].any()  # caption above the box
    assert _changed(draw_box(canvas, (20, 0, 80, 70), score=0.5), canvas)[1:12, 21:40].any()  # inside at the top
    with pytest.raises(RenderError):
        draw_box(canvas, (80, 30, 20, 70))
    with pytest.raises(RenderError):
        draw_box(canvas, (20, 30, 80))


def test_draw_pose_axes(canvas):
    black = np.zeros_like(canvas)
    out = draw_pose_axes(black, np.eye(3), (60, 50), 30, thickness=1)
    np.testing.assert_array_equal(black, 0)
    _assert_colour(out[50, 75], [255, 0, 0])  # x: right
    _assert_colour(out[35, 60], [0, 255, 0])  # y: up in the image
    assert not _changed(out, black)[65:, :].any()  # nothing below the centre
    # Yaw by 90 degrees: the model's z axis (blue) now points right, x towards the back.
    turned = draw_pose_axes(black, _rot_y(np.pi / 2), (60, 50), 30, thickness=1)
    _assert_colour(turned[50, 75], [0, 0, 255])
    with pytest.raises(RenderError):
        draw_pose_axes(canvas, 2 * np.eye(3), (60, 50), 30)
    with pytest.raises(RenderError):
        draw_pose_axes(canvas, np.diag([1, 1, -1]), (60, 50), 30)
    with pytest.raises(RenderError):
        draw_pose_axes(canvas, np.eye(3), (60, 50, 1), 30)


def test_draw_points(canvas):
    before = canvas.copy()
    rng = np.random.default_rng(4)
    pts = rng.uniform(-20, 140, size=(9000, 3))
    out = draw_points(canvas, pts, color=(255, 255, 255))
    np.testing.assert_array_equal(canvas, before)
    px = np.rint(pts[:, :2]).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < 120) & (px[:, 1] >= 0) & (px[:, 1] < 100)
    expected = np.zeros((100, 120), bool)
    expected[px[inside, 1], px[inside, 0]] = True
    assert (out[expected] == 255).all()
    np.testing.assert_array_equal(out[~expected], canvas[~expected])
    big = draw_points(np.zeros_like(canvas), [[10, 10]], color=(0, 0, 255), size=3)
    assert (big[9:12, 9:12] == [0, 0, 255]).all() and big[..., 2].astype(bool).sum() == 9
    half = draw_points(np.zeros_like(canvas), [[10, 10]], color=(200, 200, 200), alpha=0.5)
    np.testing.assert_array_equal(half[10, 10], 100)
    with pytest.raises(RenderError):
        draw_points(canvas, np.zeros((5, 4)))
    with pytest.raises(RenderError):
        draw_points(canvas, np.zeros((5, 2)), size=0)
