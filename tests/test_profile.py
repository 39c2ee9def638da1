"""Tests of ddfa.data.profile (3D face profiling) and ddfa.data.flip, on real 300-W faces."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy", reason='needs scipy: pip install ".[train]"')

from ddfa.data.flip import flip_image, flip_params, flip_points, flip_sample, shape_mirror
from ddfa.data.profile import FaceProfiler, params_to_crop, params_to_image, profile
from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.morphable import euler_from_pose_matrix, layout
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import CROP_SIZE, image_to_vertex, roi_from_landmarks

from conftest import shared_path


@pytest.fixture(scope="module")
def faces(face_model):
    """Four near-frontal real faces: (image, image-frame params, crop affine, crop params)."""
    from ddfa.data.readers import read_300w

    items = read_300w(shared_path("300w"))[::97][:12]
    A = np.stack([roi_from_landmarks(it.points).affine() for it in items])
    fit = LandmarkFitter(face_model).fit(image_to_vertex(np.stack([it.points for it in items]), A))
    yaw = euler_from_pose_matrix(layout.pose_matrix(fit.params))[:, 0]
    keep = np.flatnonzero(np.abs(yaw) < 15)[:4]
    assert len(keep) == 4
    return [(load_image(items[i].image_path), params_to_image(fit.params[i], A[i]), A[i], fit.params[i])
            for i in keep]


@pytest.fixture(scope="module")
def profiler(face_model):
    return FaceProfiler(face_model)


def _euler(params_image, affine):
    return euler_from_pose_matrix(layout.pose_matrix(params_to_crop(params_image, affine)))


def test_frames_round_trip(faces, face_model):
    image, p_img, A, p_crop = faces[0]
    np.testing.assert_allclose(params_to_crop(p_img, A), p_crop, rtol=1e-5, atol=1e-4)
    # image-frame params reconstruct the crop's vertices mapped back to the image (y down)
    v_crop = face_model.vertices(p_crop[None], dense=False)[0]
    v_img = face_model.vertices(p_img[None], dense=False)[0]
    k = A[0, 0]
    np.testing.assert_allclose(v_img[:, 0] * k + A[0, 2], v_crop[:, 0], atol=1e-3)
    np.testing.assert_allclose(v_img[:, 1] * k + A[1, 2], CROP_SIZE - 1 - v_crop[:, 1], atol=1e-3)


def test_zero_rotation_keeps_labels_and_image(faces, profiler):
    for image, p_img, _, _ in faces:
        scene = profiler.scene(image, p_img)
        view = profiler.render(scene, 0.0, 0.0)
        np.testing.assert_allclose(view.params, p_img, rtol=1e-5, atol=1e-4)
        diff = np.abs(view.image.astype(np.float32) - image.astype(np.float32)).mean(-1)
        face = profiler.model.vertices(p_img[None])[0]
        x0, y0 = np.clip(face[:, :2].min(0).astype(int), 0, None)
        x1, y1 = face[:, :2].max(0).astype(int)
        assert diff[y0:y1, x0:x1].mean() < 0.5, diff[y0:y1, x0:x1].mean()
        assert diff.mean() < 0.25


def test_yaw_and_pitch_change_by_the_requested_amount(faces, profiler):
    image, p_img, A, _ = faces[1]
    scene = profiler.scene(image, p_img)
    before = _euler(p_img, A)
    for d_yaw, d_pitch in [(30.0, 0.0), (-55.0, 8.0), (5.0, -3.0), (70.0, 0.0)]:
        _, params = profiler.rotate(scene, d_yaw, d_pitch)
        after = _euler(params, A)
        np.testing.assert_allclose(after - before, [d_yaw, d_pitch, 0.0], atol=1e-3)


def test_there_and_back_again(faces, face_model):
    image, p_img, A, _ = faces[2]
    img30, p30 = profile(image, p_img, 30.0)
    assert not np.allclose(p30, p_img, atol=1e-2)
    img0, p0 = profile(img30, p30, -30.0)
    np.testing.assert_allclose(p0, p_img, rtol=1e-5, atol=1e-4)
    # and the image comes back close to the input around the face (two resamplings, some disocclusion)
    box = face_model.vertices(p_img[None], dense=False)[0]
    x0, y0 = box[:, :2].min(0).astype(int)
    x1, y1 = box[:, :2].max(0).astype(int)
    diff = np.abs(img0.astype(np.float32) - image.astype(np.float32))[y0:y1, x0:x1].mean()
    assert diff < 12, diff


def test_landmarks_follow_the_image(faces, profiler, face_model):
    """The colour under each inner landmark is preserved by profiling (labels move with the pixels)."""
    inner = np.arange(27, 68)  # nose, eyes, mouth
    for image, p_img, _, _ in faces:
        scene = profiler.scene(image, p_img)
        src = face_model.vertices(p_img[None], dense=False)[0, inner, :2]
        ref = _sample(image, src)
        view = profiler.render(scene, 20.0, 5.0)
        dst = face_model.vertices(view.params[None], dense=False)[0, inner, :2]
        # the new 3D landmarks are the old ones moved by the scene rotation about its centre
        old3 = face_model.vertices(p_img[None], dense=False)[0]
        new3 = face_model.vertices(view.params[None], dense=False)[0]
        np.testing.assert_allclose(new3, (old3 - scene.centre) @ view.rotation.T + scene.centre, atol=1e-2)
        err = np.abs(_sample(view.image, dst) - ref).mean()
        control = np.abs(_sample(view.image, dst + [0.0, 6.0]) - ref).mean()
        assert err < 8 and err < 0.4 * control, (err, control)


def test_render_into_a_crop(faces, profiler, face_model):
    image, p_img, _, _ = faces[3]
    scene = profiler.scene(image, p_img)
    _, params = profiler.rotate(scene, 40.0)
    A = roi_from_landmarks(face_model.vertices(params[None], dense=False)[0]).affine()
    crop = profiler.render(scene, 40.0, affine=A, size=(CROP_SIZE, CROP_SIZE)).image
    full = profiler.render(scene, 40.0).image
    import cv2

    resampled = cv2.warpAffine(full, A, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert np.abs(crop.astype(float) - resampled).mean() < 4


def test_profile_rejects_bad_input(faces, profiler):
    image, p_img, _, _ = faces[0]
    with pytest.raises(InputError):
        profile(image.astype(np.float32), p_img, 10.0)
    with pytest.raises(InputError):
        profile(image, p_img[:50], 10.0)
    with pytest.raises(InputError):
        profile(image, np.full_like(p_img, np.nan), 10.0)
    scene = profiler.scene(image, p_img)
    with pytest.raises(InputError):
        profiler.render(scene, 10.0, affine=np.array([[1.0, 0.2, 0], [0, 1.0, 0]]), size=(64, 64))


# --- flips --------------------------------------------------------------------------------
def test_mirror_map_is_accurate(face_model):
    m = shape_mirror(face_model)
    assert m.residual < 0.01  # < 1 % of the basis norm
    C = m.matrix
    np.testing.assert_allclose(C @ C, np.eye(len(C)), atol=2e-3)


def test_flip_reconstructs_the_mirrored_mesh(faces, face_model):
    for _, _, _, p in faces:
        V = face_model.vertices(p[None])[0]
        mirrored = V[face_model.symmetry] * [-1, 1, 1] + [CROP_SIZE - 1, 0, 0]
        flipped = face_model.vertices(flip_params(p, CROP_SIZE)[None])[0]
        err = np.linalg.norm(flipped - mirrored, axis=1)
        assert err.mean() < 0.05 and err.max() < 0.3, (err.mean(), err.max())  # crop pixels


def test_flip_twice_is_identity(faces, face_model):
    for image, _, _, p in faces:
        pts = face_model.vertices(p[None], dense=False)[0, :, :2]
        img2, p2, pts2 = flip_sample(*flip_sample(image, p, pts))
        np.testing.assert_array_equal(img2, image)
        np.testing.assert_allclose(pts2, pts, atol=1e-4)
        np.testing.assert_allclose(p2, p, rtol=1e-3, atol=2e-3)
        assert not np.allclose(flip_params(p, CROP_SIZE), p, atol=1e-2)
        # flipped points are the projection of the flipped params' landmarks (left-right ids swapped)
        proj = face_model.vertices(flip_params(p, CROP_SIZE)[None], dense=False)[0, :, :2]
        np.testing.assert_allclose(proj, flip_points(pts, CROP_SIZE), atol=0.3)
    assert flip_image(np.arange(6).reshape(1, 6))[0, 0] == 5


def test_flip_rejects_bad_points(face_model):
    with pytest.raises(InputError):
        flip_points(np.zeros((5, 2)), 100, face_model)


def _sample(image, xy):
    import cv2

    xy = np.asarray(xy, np.float32).reshape(1, -1, 2)
    return cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR).reshape(-1, 3).astype(np.float32)


def test_contact_sheet_cli(tmp_path):
    from ddfa.cli.main import main

    out = tmp_path / "sheet.png"
    w300 = shared_path("300w")
    assert main(["data", "sheet", "--out", str(out), "--w300", str(w300), "--faces", "afw/1051618982_1",
                 "--yaws", "0,45", "--cell", "64"]) == 0
    sheet = load_image(out)
    assert sheet.shape == (64, 128, 3)
    assert np.abs(sheet[:, :64].astype(float) - sheet[:, 64:]).mean() > 5  # the views differ
    assert main(["data", "sheet", "--out", str(out), "--w300", str(w300), "--faces", "afw/nobody_1"]) == 1
    assert main(["data", "sheet", "--out", str(out), "--w300", str(w300), "--yaws", "a,b"]) == 1
