"""The face model, parameter layout, pose conventions and frames."""

import numpy as np
import pytest

from ddfa.morphable import FaceModel, Normalizer, compose, decompose, euler_from_rotation, layout, rotation_from_euler
from ddfa.morphable.frames import (
    CROP_SIZE,
    Roi,
    image_to_vertex,
    landmark_crop_affines,
    roi_from_landmarks,
    vertex_to_image,
)

from conftest import shared_path


def random_params(rng, B, scale=4.0):
    R = rotation_from_euler(rng.uniform(-80, 80, B), rng.uniform(-30, 30, B), rng.uniform(-30, 30, B))
    T = compose(np.full(B, scale), R, np.c_[rng.uniform(40, 80, (B, 2)), rng.normal(0, 5, B)])
    return layout.join(T, rng.normal(0, 1, (B, 50))).astype(np.float32)


def test_asset_is_small_and_consistent(face_model):
    from importlib import resources

    size = (resources.files("ddfa.assets") / "face_model.npz").stat().st_size
    assert size < 10e6
    m = face_model
    assert m.mean.shape == (9409, 3) and m.basis.shape == (50, 9409 * 3)
    assert m.triangles.min() >= 0 and m.triangles.max() < m.n_vertices
    assert len(np.unique(m.landmarks)) == 68
    assert (resources.files("ddfa.assets") / "LICENSE_ICT_FACE_MODEL.txt").is_file()


def test_symmetry_is_an_involution_and_mirrors_the_mean(face_model):
    m = face_model
    assert np.mean(m.symmetry[m.symmetry] == np.arange(m.n_vertices)) > 0.99
    mirrored = m.mean[m.symmetry] * [-1, 1, 1]
    assert np.abs(mirrored - m.mean).max() < 0.05  # cm
    # the 68-point mirror permutation agrees with the vertex symmetry
    assert np.array_equal(m.symmetry[m.landmarks], m.landmarks[m.landmark_flip])


def test_build_from_source_matches_the_ict_neutral(tmp_path):
    pytest.importorskip("scipy", reason='ddfa model build needs scipy: pip install ".[train]"')
    from ddfa.morphable.build import build_face_model

    src = shared_path("ict-face-model")
    out = build_face_model(src, tmp_path / "m.npz")
    m = FaceModel.load(out)
    ict = np.load(src / "ict_face_model_light.npz")
    # the mean is the ICT neutral shifted by a constant; the identity modes are copied
    shift = ict["neutral"][:9409] - m.mean
    assert np.ptp(shift, axis=0).max() < 1e-4
    assert np.allclose(m.basis[:40].reshape(40, -1, 3), ict["identity_modes"][:40, :9409], atol=1e-6)
    assert np.array_equal(m.landmarks, ict["landmarks_68"])  # no calibration asked
    assert (tmp_path / "LICENSE_ICT_FACE_MODEL.txt").read_text().count("MIT") >= 1


def test_shipped_landmarks_are_the_300w_annotation_convention(face_model):
    """The bundled 68 landmark vertices are exactly what calibrating ICT's own markup to the 300-W
    annotations gives (``ddfa model build --calibrate-with``); they differ from ICT's at most points."""
    import dataclasses

    from ddfa.data.readers import read_300w
    from ddfa.morphable.calibrate import calibrate_to_annotations

    ict = np.load(shared_path("ict-face-model", "ict_face_model_light.npz"))["landmarks_68"].astype(np.int32)
    points = np.stack([item.points for item in read_300w(shared_path("300w"))])
    ids = calibrate_to_annotations(dataclasses.replace(face_model, landmarks=ict), points)
    assert np.array_equal(ids, face_model.landmarks)
    assert (ids != ict).sum() > 34


def test_expression_basis_maps_back_to_arkit(face_model, rng):
    """The least-squares map rebuilds each displacement; the shipped bounded reading finds a single shape."""
    from ddfa.morphable.expression import ArkitProjection

    ict = np.load(shared_path("ict-face-model", "ict_face_model_light.npz"))
    names = list(ict["expression_names"])
    shapes = ict["expression_modes"][[names.index(n) for n in face_model.arkit_names], :9409].reshape(57, -1)
    c = rng.normal(0, 1, (3, 10)).astype(np.float32)
    disp = c @ face_model.basis[40:]
    w = c @ face_model.exp_to_arkit.T
    assert np.abs(w @ shapes - disp).max() < 1e-3 * np.abs(disp).max()
    rest = ArkitProjection.load().rest
    assert max(face_model.expression_weights(rest[None]).values()) == 0  # the neutral expression reads 0
    for name in ("jawOpen", "mouthSmile_L"):  # one shape alone projects mostly onto itself, within [0, 1]
        one = np.zeros((1, 57), np.float32)
        one[0, face_model.arkit_names.index(name)] = 1
        coef = np.linalg.lstsq(face_model.basis[40:].T, (one @ shapes)[0], rcond=None)[0]
        read = face_model.expression_weights(coef[None] + rest)
        assert max(read, key=lambda k: read[k][0]) == name and 0.4 < read[name][0] <= 1


def test_layout_roundtrip_numpy_and_torch(rng):
    torch = pytest.importorskip("torch", reason='needs torch: pip install ".[train]"')
    p = rng.normal(size=(4, 62)).astype(np.float32)
    T, a = layout.pose_matrix(p), layout.shape_coeffs(p)
    assert T.shape == (4, 3, 4) and a.shape == (4, 50)
    assert np.array_equal(layout.join(T, a), p)
    pt = torch.from_numpy(p)
    assert torch.equal(layout.join(layout.pose_matrix(pt), layout.shape_coeffs(pt)), pt)
    assert np.array_equal(np.concatenate([layout.id_coeffs(p), layout.exp_coeffs(p)], 1), a)
    with pytest.raises(ValueError):
        layout.pose_matrix(np.zeros((2, 61)))


def test_normalizer_roundtrip(rng):
    torch = pytest.importorskip("torch", reason='needs torch: pip install ".[train]"')
    p = rng.normal(3, 2, size=(100, 62))
    n = Normalizer.fit(p)
    z = n.normalize(p.astype(np.float32))
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0), 1, atol=1e-3)
    assert np.allclose(n.denormalize(z), p, atol=1e-4)
    zt = n.normalize(torch.tensor(p, dtype=torch.float32))
    assert np.allclose(zt.numpy(), z, atol=1e-5)


@pytest.mark.parametrize("angles", [(30, 0, 0), (0, 20, 0), (0, 0, -15), (-60, 25, 10), (89, -5, 3)])
def test_euler_roundtrip(angles):
    R = rotation_from_euler(*angles)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1)
    assert np.allclose(euler_from_rotation(R), angles, atol=1e-6)


def test_euler_signs_by_known_rotations(face_model):
    """yaw > 0 moves the nose tip to the image right, pitch > 0 moves it down, roll > 0 is counter-clockwise."""
    nose, right_eye, left_eye = face_model.landmark_mean[[30, 36, 45]]
    assert rotation_from_euler(30, 0, 0)[0] @ nose > nose[0]
    assert rotation_from_euler(0, 20, 0)[1] @ nose < nose[1]
    R = rotation_from_euler(0, 0, 20)  # in a y-up frame the eye line turns counter-clockwise
    eyes = (R @ left_eye) - (R @ right_eye)
    assert eyes[1] > 0 and np.isclose(np.degrees(np.arctan2(eyes[1], eyes[0])), 20, atol=1)


def test_decompose_compose_roundtrip(rng):
    R = rotation_from_euler(rng.uniform(-90, 90, 5), rng.uniform(-40, 40, 5), rng.uniform(-40, 40, 5))
    T = compose(rng.uniform(1, 5, 5), R, rng.normal(size=(5, 3)))
    s, R2, t = decompose(T)
    assert np.allclose(compose(s, R2, t), T, atol=1e-9)


def test_decompose_finds_the_nearest_rotation_of_any_matrix(rng):
    """Regressed 3x3 blocks are only roughly scaled rotations, and a reflection has no rotation at distance 0:
    R is a proper rotation no farther from M / s than any other rotation tried."""
    M = rng.normal(size=(64, 3, 3))
    s, R, _ = decompose(np.concatenate([M, np.zeros((64, 3, 1))], -1))
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3)) and np.allclose(np.linalg.det(R), 1)
    assert (np.linalg.det(M) < 0).sum() > 10  # reflections included
    Q = rotation_from_euler(*rng.uniform(-180, 180, (3, 500)))
    best = np.linalg.norm(M / s[:, None, None] - R, axis=(1, 2))
    tried = np.linalg.norm(M[:, None] / s[:, None, None, None] - Q[None], axis=(2, 3))
    assert np.all(best[:, None] <= tried + 1e-12)


def test_dense_and_sparse_reconstruction_agree(face_model, rng):
    torch = pytest.importorskip("torch", reason='needs torch: pip install ".[train]"')
    p = random_params(rng, 5)
    dense = face_model.vertices(p)
    sparse = face_model.vertices(p, dense=False)
    assert dense.shape == (5, 9409, 3) and sparse.shape == (5, 68, 3)
    assert np.allclose(dense[:, face_model.landmarks], sparse, atol=1e-3)
    tm = face_model.torch()
    pt = torch.from_numpy(p)
    assert np.allclose(tm.vertices(pt).numpy(), dense, atol=1e-3)
    assert np.allclose(tm.vertices(pt, dense=False).numpy(), sparse, atol=1e-3)


def test_reconstruction_is_the_similarity_of_the_shape(face_model, rng):
    p = random_params(rng, 2)
    s, R, t = decompose(layout.pose_matrix(p))
    S = face_model.shape(layout.shape_coeffs(p))
    expect = s[:, None, None] * S @ R.transpose(0, 2, 1) + t[:, None]
    assert np.allclose(face_model.vertices(p), expect, atol=1e-3)


def test_crop_frames_roundtrip_and_pixel_convention(rng):
    roi = Roi(200.0, 150.0, 240.0)
    A = roi.affine()[None]
    # pixel-edge extent of the ROI maps to the crop's edges
    corners = np.array([[[roi.box[0] - 0.0, roi.box[1]], [roi.box[2], roi.box[3]]]], np.float32)
    edges = corners @ A[0, :, :2].T + A[0, :, 2]
    assert np.allclose(edges, [[-0.5, -0.5], [CROP_SIZE - 0.5, CROP_SIZE - 0.5]], atol=1e-4)
    pts = rng.uniform(0, 400, (1, 68, 3)).astype(np.float32)
    assert np.allclose(vertex_to_image(image_to_vertex(pts, A), A), pts, atol=1e-3)
    v = image_to_vertex(np.array([[[roi.cx, roi.cy - 60]]], np.float32), A)  # above the centre
    assert v[0, 0, 1] > (CROP_SIZE - 1) / 2  # ... is up in the y-up vertex frame


def test_roi_from_landmarks_rejects_degenerate_points():
    with pytest.raises(ValueError):
        roi_from_landmarks(np.zeros((68, 2)))
    with pytest.raises(ValueError):
        landmark_crop_affines(np.zeros((3, 68, 2)))


def test_batched_crop_affines_are_the_roi_affines(rng):
    pts = rng.uniform(0, 500, (2, 3, 68, 2)) * rng.uniform(0.1, 1, (2, 3, 1, 2))
    batched = landmark_crop_affines(pts)
    assert batched.shape == (2, 3, 2, 3)
    for index in np.ndindex(2, 3):
        np.testing.assert_array_equal(batched[index], roi_from_landmarks(pts[index]).affine())
