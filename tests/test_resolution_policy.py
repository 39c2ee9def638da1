"""The detector's resolution policy (issue 18 item 2, issue 20): small faces in big photos, the
pyramid, the re-check, and the options that rebuild the detector before it (real faces pasted
into big frames of a real face-free photo)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ddfa.detect.retinaface import BASELINE_OPTIONS, RetinaFaceDetector, _blob, _downscale, _shrink, box_iou
from ddfa.errors import InputError
from ddfa.io import load_image

MEDIA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media"


def _media(rel: str) -> np.ndarray:
    path = MEDIA / rel
    if not path.exists():
        pytest.skip(f"shared test image {rel} not available (expected under ../shared/data/media)")
    return load_image(path)


@pytest.fixture(scope="module")
def faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """(patch, face box in the patch) for the five faces of multi_face.jpg, 1.6 x box of context."""
    image = _media("images/multi_face.jpg")
    out = []
    for det in RetinaFaceDetector(max_size=None).detect(image):
        side = int(1.6 * max(det.width, det.height))
        x0, y0 = (np.round((det.box[:2] + det.box[2:]) / 2) - side // 2).astype(int)
        padded = cv2.copyMakeBorder(image, side, side, side, side, cv2.BORDER_REFLECT)
        out.append((padded[y0 + side:y0 + 2 * side, x0 + side:x0 + 2 * side],
                    det.box - np.array([x0, y0, x0, y0], np.float32)))
    assert len(out) == 5
    return out


def _frame(width: int, height: int, faces, face_height: float, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The face-free mountain photo at width x height with ``faces`` pasted every ``step`` px on a
    row through the middle, each box ``face_height`` px high -> (image, boxes (N, 4))."""
    frame = cv2.resize(_media("images/free-mountain-vector-01.jpg"), (width, height), interpolation=cv2.INTER_LINEAR)
    boxes = []
    for i, (patch, box) in enumerate(faces):
        f = face_height / (box[3] - box[1])
        p = cv2.resize(patch, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        x, y = step * (i + 1), height // 2
        frame[y:y + p.shape[0], x:x + p.shape[1]] = p
        boxes.append(box * f + np.array([x, y, x, y], np.float32))
    return frame, np.array(boxes)


def _found(dets, boxes: np.ndarray) -> int:
    """Pasted boxes matched by a detection (IoU > 0.4); fails on a detection matching none."""
    hits = set()
    for d in dets:
        iou = box_iou(d.box, boxes)
        assert iou.max() > 0.4, f"false positive at {d.box.round()} (score {d.score:.2f})"
        hits.add(int(iou.argmax()))
    return len(hits)


def test_five_60px_faces_in_a_4000x3000_frame(faces):
    image, boxes = _frame(4000, 3000, faces, 60, 600)
    assert _found(RetinaFaceDetector(**BASELINE_OPTIONS).detect(image), boxes) < 5  # the issue: 1 of 5
    assert _found(RetinaFaceDetector(min_face=40).detect(image), boxes) == 5


def test_three_250px_faces_in_a_12000x9000_frame(faces):
    image, boxes = _frame(12000, 9000, faces[:3], 250, 3000)
    assert _found(RetinaFaceDetector(**BASELINE_OPTIONS).detect(image), boxes) == 0  # the issue: no face
    assert _found(RetinaFaceDetector().detect(image), boxes) == 3  # the default shrinks 8x at most


def test_min_face_20_in_a_2000x1500_frame(faces):
    image, boxes = _frame(2000, 1500, faces, 24, 300)
    assert _found(RetinaFaceDetector().detect(image), boxes) == 0
    assert _found(RetinaFaceDetector(min_face=20).detect(image), boxes) >= 4


def test_scales_and_tiles():
    det = RetinaFaceDetector(min_face=20)
    assert det.scales(3000, 4000) == pytest.approx([0.125, 0.375, 1.0])  # 8x shrink at most, x3 steps, 24/20
    assert RetinaFaceDetector(min_face=60).scales(3000, 4000) == pytest.approx([0.125, 0.375, 0.4])
    assert RetinaFaceDetector().scales(400, 300) == [1.0]
    assert RetinaFaceDetector(**BASELINE_OPTIONS).scales(3000, 4000) == [0.16]  # one 640 px pass
    assert RetinaFaceDetector(max_size=None, max_shrink=None).scales(3000, 4000) == [1.0]


def test_recheck_finds_the_unsure_face_and_keeps_the_rest():
    """einstein.jpg's second face scores 0.49 in the 448 px pass; the re-check confirms it."""
    image = _media("landmarked/einstein.jpg")
    without = RetinaFaceDetector(recheck=False).detect(image)
    with_recheck = RetinaFaceDetector().detect(image)
    assert len(without) == 1 and len(with_recheck) == 2
    assert max(box_iou(without[0].box, np.stack([d.box for d in with_recheck]))) > 0.7


def test_recheck_rejects_clothes_in_a_grey_photo():
    gray = cv2.cvtColor(_media("images/two_people.jpg"), cv2.COLOR_RGB2GRAY)
    assert len(RetinaFaceDetector().detect(load_image(gray))) == 2


@pytest.mark.parametrize("name", ["images/bald_guys.jpg", "images/emma.jpg", "images/bbt1.jpg"])
def test_new_policy_finds_every_face_the_baseline_finds(name):
    image = _media(name)
    old = RetinaFaceDetector(**BASELINE_OPTIONS).detect(image)
    new = RetinaFaceDetector().detect(image)
    assert len(new) >= len(old)
    for d in old:
        assert box_iou(d.box, np.stack([n.box for n in new])).max() > 0.5


@pytest.mark.parametrize("scale", [0.5, 0.3, 0.2])
def test_fused_preprocessing_matches_the_original(scale):
    image = _media("images/bbt1.jpg")
    small, to_orig = _shrink(image, scale)
    ref, ref_to_orig = _downscale(image, scale)
    assert small.shape == ref.shape
    np.testing.assert_allclose(to_orig, ref_to_orig, rtol=5e-3)  # each drops its own odd rows / columns
    if scale == 0.5:  # one 2 x 2 average in both
        np.testing.assert_array_equal(small, ref)
    blob = (small[..., ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)
    np.testing.assert_array_equal(_blob([small])[0], blob)
    options = {"max_size": round(max(image.shape) * scale), "max_shrink": None, "recheck": False}
    fused = RetinaFaceDetector(fused=True, **options).detect(image)
    plain = RetinaFaceDetector(fused=False, **options).detect(image)
    assert len(fused) == len(plain) == 4
    for d in plain:
        assert box_iou(d.box, np.stack([f.box for f in fused])).max() > 0.85


def test_shrink_maps_back_exactly():
    """A 4x pixel-replicated image halved twice is the original, and a box maps back by 4x + 1.5."""
    image = _media("images/two_people.jpg")
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)
    small, to_orig = _shrink(big, 0.25)
    np.testing.assert_array_equal(small, image)
    np.testing.assert_array_equal(to_orig, [4, 4])
    det = RetinaFaceDetector(max_size=max(image.shape), max_shrink=None)
    a, b = det.detect(image), RetinaFaceDetector(max_size=max(image.shape), max_shrink=None).detect(big)
    assert len(a) == len(b) == 2
    for s, g in zip(a, b):
        np.testing.assert_allclose(g.box, 4 * s.box + 1.5, atol=1e-2)


@pytest.mark.parametrize("kwargs", [{"max_shrink": 0.5}, {"min_face": 2}, {"max_size": 16}])
def test_bad_policy_arguments(kwargs):
    with pytest.raises(InputError):
        RetinaFaceDetector(**kwargs)


def test_bad_cli_options_fail_once_before_any_image(tmp_path, capsys):
    from ddfa.cli.main import main

    image = MEDIA / "images" / "single_face.jpg"
    if not image.exists():
        pytest.skip("shared test image single_face.jpg not available")
    assert main(["align", str(image), "-o", str(tmp_path), "--det-size", "16"]) != 0
    err = capsys.readouterr().err
    assert "at least 32 px" in err and "single_face" not in err


def test_aligner_and_cli_pass_the_options(faces, tmp_path):
    from ddfa.cli.main import main
    from ddfa.pipeline import FaceAligner

    image, boxes = _frame(4000, 3000, faces, 60, 600)
    aligner = FaceAligner(min_face=40)
    assert aligner.detector.min_face == 40 and aligner.detector.max_size == 448
    assert len(aligner.align(image)) == 5
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), image[..., ::-1])
    assert main(["align", str(path), "-o", str(tmp_path / "out"), "--min-face", "40", "--det-size", "512"]) == 0
    import json

    (result,) = (tmp_path / "out").glob("*.json")
    assert len(json.loads(result.read_text())["faces"]) == 5
