"""Colour order, supplied boxes outside the image, track(None), --uv-size bounds: on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from ddfa.cli.main import main
from ddfa.errors import InputError
from ddfa.pipeline import FaceAligner


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner()


def test_bgr_arrays_with_color_bgr_equal_rgb_input(aligner):
    path = shared_path("media", "images", "multi_face.jpg")
    bgr = cv2.imread(str(path))
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    ref = aligner.align(rgb)
    wrong = aligner.align(bgr)  # a BGR array taken as RGB: faces move
    shifts = [np.abs(a.landmarks - b.landmarks).max() for a, b in zip(ref, wrong)]
    assert len(wrong) != len(ref) or max(shifts) > 1.0
    ok = aligner.align(bgr, color="bgr")
    assert len(ok) == len(ref)
    for a, b in zip(ref, ok):
        assert np.array_equal(a.landmarks_3d, b.landmarks_3d) and a.score == b.score
    tracked = next(aligner.track([bgr], color="bgr"))
    first = next(aligner.track([rgb]))
    assert [np.array_equal(a.landmarks_3d, b.landmarks_3d) for a, b in zip(tracked, first)] == [True] * len(first)
    with pytest.raises(InputError, match="color"):
        aligner.align(rgb, color="hsv")


def test_supplied_box_scores_the_share_inside(aligner):
    image = cv2.imread(str(shared_path("media", "images", "emma.jpg")))[..., ::-1]
    h, w = image.shape[:2]
    inside = aligner.align(image)[0].box
    bw = inside[2] - inside[0]
    half_out = inside - np.array([inside[0] + bw / 2 + 0.5, 0, inside[0] + bw / 2 + 0.5, 0])  # half left of x = -0.5
    faces = aligner.align(image, boxes=[inside, half_out])
    assert faces[0].score == pytest.approx(1.0) and faces[1].score == pytest.approx(0.5, abs=0.01)
    with pytest.raises(InputError, match="outside"):
        aligner.align(image, boxes=[[w + 10, 0, w + 100, 90]])


def test_track_none_is_a_clear_error(aligner):
    with pytest.raises(InputError, match="iterable of frames"):
        aligner.track(None)
    with pytest.raises(InputError, match="iterable of frames"):
        aligner.track(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("size", ["8", "5000"])
def test_uv_size_is_bounded(tmp_path, capsys, size):
    with pytest.raises(SystemExit):
        main(["align", str(shared_path("media", "images", "emma.jpg")), "-o", str(tmp_path), "--uv-size", size])
    assert "from 16 to 4096" in capsys.readouterr().err
