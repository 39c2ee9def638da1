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
    return FaceAligner(), FaceAligner(upright=True)


@pytest.fixture(scope="module")
def landmarked():
    folder = shared("media", "landmarked")
    return [(load_image(folder / f"{f.stem}.jpg"), read_pts(f)) for f in sorted(folder.glob("*.pts"))]


def test_upright_heads_cost_nothing(aligners, landmarked):
    """A face the network already sees within 10 degrees of upright gets exactly the one-pass answer."""
    plain, upright = aligners
    checked = 0
    for image, gt in landmarked:
        (face,) = plain.align(image, landmarks=gt)
        crops, _ = crop_faces(image, [face.roi])
        one = plain.regressor(crops)
        if abs(in_plane_angle(one)[0]) < 10:
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


def test_bad_arguments():
    with pytest.raises(InputError, match="min_roll"):
        UprightRegressor(lambda c: c, min_roll=-1)
    with pytest.raises(InputError, match="passes"):
        UprightRegressor(lambda c: c, passes=0)
