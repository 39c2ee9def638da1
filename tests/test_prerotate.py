"""Pre-rotated crops (FaceAligner(prerotate=True)): tilted faces are cropped upright by the
detector's eye points, so the upright pass rarely needs a second network run (real photos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ddfa.io import load_image
from ddfa.morphable.frames import vertex_to_image
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.crop import crop_faces, eye_turns, roi_from_box, unturn_params
from ddfa.pipeline.regressor import in_plane_angle

MEDIA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media" / "images"


def _image(name: str) -> np.ndarray:
    if not (MEDIA / name).exists():
        pytest.skip(f"shared test image {name} not available (expected under ../shared/data/media/images)")
    return load_image(MEDIA / name)


def _turned(image: np.ndarray, angle: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def aligner() -> FaceAligner:
    return FaceAligner(upright=False)


@pytest.mark.parametrize("angle", [-25, 25])
def test_turned_crop_is_upright(aligner, angle):
    image = _turned(_image("single_face.jpg"), angle)
    dets = aligner.detect(image)
    turns = eye_turns(dets)
    assert turns is not None and abs(turns[0] + angle) < 8  # the eye line undoes the image turn
    rois = [roi_from_box(d.box) for d in dets]
    plain, _ = crop_faces(image, rois)
    upright, _ = crop_faces(image, rois, turns=turns)
    assert abs(in_plane_angle(aligner.regressor(plain))[0] - angle) < 8
    assert abs(in_plane_angle(aligner.regressor(upright))[0]) < 8


def test_unturned_params_give_the_same_points(aligner):
    image = _turned(_image("single_face.jpg"), 20)
    dets = aligner.detect(image)
    rois = [roi_from_box(d.box) for d in dets]
    turns = eye_turns(dets)
    crops, turned_affines = crop_faces(image, rois, turns=turns)
    params = aligner.regressor(crops)
    _, plain_affines = crop_faces(image, rois)
    model = aligner.face_model
    v = model.vertices(params, dense=False)[0]  # turned crop's vertex frame: x right, y up
    pixels = np.c_[v[:, 0], 119 - v[:, 1], np.ones(len(v))]  # turned crop pixels
    direct = pixels @ cv2.invertAffineTransform(turned_affines[0]).T  # -> image pixels
    back = vertex_to_image(model.vertices(unturn_params(params, turns), dense=False), plain_affines)[0]
    np.testing.assert_allclose(back[:, :2], direct, atol=1e-2)


def test_level_faces_and_profiles_are_not_turned():
    aligner = FaceAligner()
    dets = aligner.detect(_image("single_face.jpg"))
    assert eye_turns(dets) is None  # within 5 degrees of level
    assert eye_turns(dets, min_angle=0.0) is not None
    assert eye_turns(dets, min_angle=0.0, min_span=10.0) is None  # eyes "too close": a profile


def test_prerotate_agrees_with_the_upright_pass_and_saves_network_runs():
    image = _image("bald_guys.jpg")  # 24 faces, a third of them tilted past 5 degrees
    runs = {}
    faces = {}
    for flag in (False, True):
        aligner = FaceAligner(prerotate=flag)
        net = aligner.regressor.regressor
        count = [0]

        def counting(crops, net=net, count=count):
            count[0] += len(crops)
            return net(crops)

        aligner.regressor.regressor = counting
        faces[flag] = aligner.align(image)
        runs[flag] = count[0]
    assert len(faces[True]) == len(faces[False]) == 24
    assert runs[True] < runs[False]  # 24 vs 34 when measured
    for a, b in zip(faces[False], faces[True]):
        size = np.sqrt(a.box[2:] - a.box[:2]).prod()
        assert np.abs(a.landmarks[:, :2] - b.landmarks[:, :2]).mean() < 0.03 * size
        assert abs(a.pose.roll - b.pose.roll) < 5


def test_boxes_and_landmarks_inputs_are_never_turned():
    image = _turned(_image("single_face.jpg"), 25)
    on, off = FaceAligner(prerotate=True), FaceAligner(prerotate=False)
    (det,) = on.detect(image)
    np.testing.assert_array_equal(on.align(image, boxes=det.box[None])[0].params,
                                  off.align(image, boxes=det.box[None])[0].params)
