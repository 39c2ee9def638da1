"""The upright pass (UprightRegressor): tilted heads regressed again, turned upright in their crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _placeholder_weights import bundled_weights_or_skip

from conftest import shared_path as shared
from ddfa.data.readers import read_pts
from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.crop import crop_faces
from ddfa.pipeline.regressor import UprightRegressor, in_plane_angle


def _rolled(image: np.ndarray, pts: np.ndarray, angle: float):
    """The image and its points rotated by ``angle`` degrees (counter-clockwise) about the points' centre."""
    c = (pts.min(0) + pts.max(0)) / 2
    a = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, 1.0)
    rotated = cv2.warpAffine(image, a, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return rotated, pts @ a[:, :2].T + a[:, 2]


@pytest.fixture(scope="module")
def aligners():
    bundled_weights_or_skip()
    return FaceAligner(upright=False), FaceAligner()


@pytest.fixture(scope="module")
def landmarked():
    folder = shared("media", "landmarked")
    return [(load_image(folder / f"{f.stem}.jpg"), read_pts(f)) for f in sorted(folder.glob("*.pts"))]


def test_upright_heads_cost_nothing(aligners, landmarked):
    """A face the network already sees below the soft switch's ramp (5 degrees) gets exactly the
    one-pass answer."""
    plain, upright = aligners
    below = upright.regressor.min_roll - upright.regressor.ramp / 2
    checked = 0
    for image, gt in landmarked:
        (face,) = plain.align(image, landmarks=gt)
        crops, _ = crop_faces(image, [face.roi])
        one = plain.regressor(crops)
        if abs(in_plane_angle(one)[0]) < below:
            np.testing.assert_array_equal(upright.regressor(crops), one)
            checked += 1
    assert checked > 0


def test_upright_pass_rescues_strongly_tilted_heads(aligners, landmarked):
    """Each annotated photo rolled by +-50 degrees (beyond the 25 degrees seen in training): the upright
    pass brings the prediction much closer to the rotated annotation than one pass does, and its
    answer is in the original crop's frame (the landmarks land on the face, not on the turned crop)."""
    plain, upright = aligners
    err = {"plain": [], "upright": []}
    for image, gt in landmarked:
        for angle in (50.0, -50.0):
            img, pts = _rolled(image, gt, angle)
            size = np.sqrt(np.prod(pts.max(0) - pts.min(0)))
            for name, aligner in (("plain", plain), ("upright", upright)):
                (face,) = aligner.align(img, landmarks=pts)
                err[name].append(np.linalg.norm(face.landmarks - pts, axis=1).mean() / size)
    assert np.mean(err["upright"]) < 0.8 * np.mean(err["plain"]), err
    assert np.median(err["upright"]) < np.median(err["plain"]), err


def test_in_plane_angle_follows_the_crop_rotation(aligners, landmarked):
    """Rolling the photo by 20 degrees counter-clockwise turns the predicted in-plane angle by about +20."""
    plain, _ = aligners
    image, gt = landmarked[0]
    angles = []
    for angle in (0.0, 20.0):
        img, pts = _rolled(image, gt, angle)
        (face,) = plain.align(img, landmarks=pts)
        angles.append(in_plane_angle(plain.regressor(crop_faces(img, [face.roi])[0]))[0])
    assert 14 < angles[1] - angles[0] < 26, angles


def test_switch_weight_ramps_across_the_threshold():
    soft = UprightRegressor(lambda c: c, face_model=object(), min_roll=10, ramp=10)
    hard = UprightRegressor(lambda c: c, face_model=object(), min_roll=10, ramp=0)
    angles = np.array([0.0, 4.9, -5.0, 7.5, 10.0, -12.5, 15.0, 40.0])
    np.testing.assert_allclose(soft.weight(angles), [0, 0, 0, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_array_equal(hard.weight(angles), [0, 0, 0, 0, 0, 1, 1, 1])


def test_soft_switch_blends_one_pass_and_upright_answers(aligners, landmarked):
    """On a real tilted face: at the middle of the ramp the answer is the mean of the one-pass and the
    upright answers, below the ramp it is the one-pass answer, above it the upright one."""
    plain, _ = aligners
    image, gt = landmarked[0]
    img, pts = _rolled(image, gt, 20.0)
    (face,) = plain.align(img, landmarks=pts)
    crops, _ = crop_faces(img, [face.roi])
    reg, model = plain.regressor, plain.face_model
    one = reg(crops)
    roll = abs(in_plane_angle(one)[0])
    assert roll > 12
    upright = UprightRegressor(reg, model, min_roll=0, passes=1, ramp=0)(crops)
    assert np.abs(upright - one).max() > 1e-2  # the two answers differ, so the blend is visible

    def soft(min_roll):
        return UprightRegressor(reg, model, min_roll=min_roll, passes=1, ramp=10)(crops)

    np.testing.assert_array_equal(soft(roll + 6), one)
    np.testing.assert_allclose(soft(roll), (one + upright) / 2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(soft(roll - 6), upright, rtol=1e-6, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(InputError, match="min_roll"):
        UprightRegressor(lambda c: c, min_roll=-1)
    with pytest.raises(InputError, match="passes"):
        UprightRegressor(lambda c: c, passes=0)
    with pytest.raises(InputError, match="ramp"):
        UprightRegressor(lambda c: c, min_roll=10, ramp=-1)
