"""Faces at any in-plane angle (``FaceAligner(any_rotation=True)``) on real photos turned by 90/180/270 and 45 degrees."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.morphable import layout
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.turned import turn_affine, turn_image


@pytest.fixture(scope="module")
def photo():
    return load_image(shared_path("media", "images", "multi_face.jpg"))


@pytest.fixture(scope="module")
def aligners():
    return FaceAligner(), FaceAligner(any_rotation=True)


@pytest.fixture(scope="module")
def upright(photo, aligners):
    return aligners[0].align(photo)


def _in_plane(R):
    """Angle of the face's up axis on screen, counter-clockwise, degrees (camera axes, y up)."""
    return np.degrees(np.arctan2(-R[0, 1], R[1, 1]))


def _wrap(deg):
    return (np.asarray(deg) + 180) % 360 - 180


def test_turn_affine_maps_pixels_exactly(photo):
    small = photo[:7, :5]
    for k in range(4):
        turned = turn_image(small, k)
        A = turn_affine(small.shape, k)
        ys, xs = np.mgrid[: turned.shape[0], : turned.shape[1]]
        src = np.stack([xs.ravel(), ys.ravel()], 1) @ A[:, :2].T + A[:, 2]
        src = src.round().astype(int)
        assert np.array_equal(turned.reshape(-1, 3), small[src[:, 1], src[:, 0]])


@pytest.mark.parametrize("turn", [1, 2, 3])
def test_quarter_turns_give_the_upright_faces_mapped(photo, aligners, upright, turn, face_model):
    assert len(upright) == 5
    turned = turn_image(photo, turn)
    plain = aligners[0].align(turned)
    faces = aligners[1].align(turned)
    assert len(faces) == 5 and len(plain) < 5  # without the option sideways faces are lost
    A = turn_affine(photo.shape, turn)  # turned copy pixel -> original pixel
    L, t = A[:, :2].T, -A[:, :2].T @ A[:, 2]  # original -> turned copy
    for f in faces:
        b = min(upright, key=lambda b: np.linalg.norm(f.landmarks.mean(0) - (b.landmarks.mean(0) @ L.T + t)))
        np.testing.assert_allclose(f.landmarks, b.landmarks @ L.T + t, atol=1e-3)
        np.testing.assert_allclose(f.landmarks_3d[:, 2], b.landmarks_3d[:, 2], atol=1e-4)
        # roll honest: the upright roll + the turn (the in-plane angle exactly, the Euler roll up to the
        # small yaw-pitch coupling); the rotation is the upright one turned about the camera axis
        assert abs(_wrap(f.pose.roll - b.pose.roll - 90 * turn)) < 2
        assert abs(_wrap(_in_plane(f.pose.rotation) - _in_plane(b.pose.rotation) - 90 * turn)) < 1e-3
        c, s_ = np.cos(np.radians(90 * turn)), np.sin(np.radians(90 * turn))
        Rz = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1]])
        np.testing.assert_allclose(f.pose.rotation, Rz @ b.pose.rotation, atol=1e-6)
        # the pose matrix maps the model's landmarks onto the returned ones
        S = face_model.landmark_mean + (layout.shape_coeffs(f.params[None]) @ face_model.landmark_basis).reshape(68, 3)
        np.testing.assert_allclose(S @ f.pose.matrix[:, :3].T + f.pose.matrix[:, 3], f.landmarks_3d, atol=1e-2)
    f = faces[0]
    np.testing.assert_allclose(f.vertices[face_model.landmarks], f.landmarks_3d, atol=1e-2)


@pytest.mark.parametrize("angle", [30, 45, 60, 135])
def test_tilted_photos(photo, aligners, upright, angle):
    """Tilts between the quarter turns: the diagonal copies keep every face within 22.5 degrees of
    upright for the network (before them, the smallest face at 45 degrees landed 10.7 % of its size
    off, and at 60 degrees one face was aligned upside down)."""
    h, w = photo.shape[:2]
    side = int(np.hypot(h, w)) + 2
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    M[:, 2] += [(side - w) / 2, (side - h) / 2]
    turned = cv2.warpAffine(photo, M, (side, side), flags=cv2.INTER_LINEAR)
    faces = aligners[1].align(turned)
    assert len(faces) == 5
    for b in upright:
        target = b.landmarks @ M[:, :2].T + M[:, 2]
        f = min(faces, key=lambda f: np.linalg.norm(f.landmarks - target, axis=1).mean())
        err = np.linalg.norm(f.landmarks - target, axis=1).mean() / np.ptp(target, 0).max()
        assert err < 0.065, err  # measured worst 5.8 % (30 degrees), most under 3 %
        assert abs(_wrap(f.pose.roll - b.pose.roll - angle)) < 15


def test_video_refuses_any_rotation(aligners):
    with pytest.raises(InputError, match="still images"):
        aligners[1].track([np.zeros((64, 64, 3), np.uint8)])


def test_cli_any_rotation(tmp_path, photo):
    import json

    from ddfa.cli.main import main
    from ddfa.io import save_image

    save_image(tmp_path / "sideways.png", turn_image(photo, 1))
    for flag, expected in (([], lambda n: n < 5), (["--any-rotation"], lambda n: n == 5)):
        out = tmp_path / f"out{len(flag)}"
        assert main(["align", str(tmp_path / "sideways.png"), "-o", str(out), "--export", "json", *flag]) == 0
        assert expected(len(json.loads((out / "sideways.json").read_text())["faces"]))


@pytest.mark.parametrize("eighths", [1, 3, 5, 7])
@pytest.mark.parametrize("scale", [1, 5])
def test_diagonal_copies_map_back_to_the_input(photo, eighths, scale):
    """A marked spot of the input is found, in a diagonal copy, where the copy's map sends it back from
    (within the resolution of the copy, shrunk to DIAGONAL_SIDE for big images)."""
    from ddfa.pipeline.turned import DIAGONAL_SIDE, copy_image

    image = cv2.resize(photo[:300, :400] // 4, (400 * scale, 300 * scale))  # real content, dimmed
    y, x = 70 * scale, 310 * scale
    r = 2 * scale
    image[y - r:y + r + 1, x - r:x + r + 1] = 255
    copy, to_image = copy_image(image, eighths)
    ys, xs = np.nonzero(copy[..., 0] > 200)
    found = np.array([xs.mean(), ys.mean()]) @ to_image[:, :2].T + to_image[:, 2]
    shrink = max(1.0, 700 * scale * np.sqrt(0.5) / DIAGONAL_SIDE)
    assert np.abs(found - [x, y]).max() < shrink
    assert copy.shape[0] == copy.shape[1] <= max(DIAGONAL_SIDE + 2, int(np.ceil(700 * np.sqrt(0.5))))
