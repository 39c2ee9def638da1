"""Video: One-Euro smoothing, multi-face tracking with stable ids, re-detection, video and result files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path
from _placeholder_weights import isolated_cache, placeholder_aligner, placeholder_weights  # noqa: F401

from ddfa.errors import ImageError, InputError
from ddfa.io import load_image
from ddfa.pipeline import FaceTracker, OneEuroFilter, Smoothing
from ddfa.pipeline.video import VideoReader, open_camera, process_stream


def media(*parts) -> Path:
    return shared_path("media", *parts)


# --- One-Euro filter -------------------------------------------------------------------------
def test_one_euro_removes_jitter_at_rest(rng):
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    t = np.arange(300) / 30
    noisy = 5.0 + rng.normal(0, 1, (300, 4))
    out = np.array([f(x, ti) for x, ti in zip(noisy, t)])
    assert out[50:].std(0).max() < 0.4 * noisy[50:].std(0).min()
    assert np.abs(out[50:].mean(0) - 5).max() < 0.2


def test_one_euro_beta_reduces_lag_when_fast():
    t = np.arange(120) / 30
    ramp = 100.0 * t  # fast motion
    lag = {}
    for beta in (0.0, 1.0):
        f = OneEuroFilter(min_cutoff=1.0, beta=beta)
        out = np.array([f(np.array([x]), ti)[0] for x, ti in zip(ramp, t)])
        lag[beta] = np.abs(ramp - out)[60:].mean()
    assert lag[1.0] < 0.2 * lag[0.0]


def test_one_euro_is_causal_and_scale_free(rng):
    t = np.arange(100) / 25
    x = np.cumsum(rng.normal(0, 1, (100, 3)), 0)
    full = OneEuroFilter(1.0, 2.0, shared=True)
    part = OneEuroFilter(1.0, 2.0, shared=True)
    a = np.array([full(v, ti) for v, ti in zip(x, t)])
    b = np.array([part(v, ti) for v, ti in zip(x[:60], t[:60])])
    assert np.array_equal(a[:60], b)  # the future does not change the past
    scaled = OneEuroFilter(1.0, 2.0, shared=True)
    c = np.array([scaled(10 * v, ti, scale=10.0) for v, ti in zip(x, t)])
    assert np.allclose(c, 10 * a)  # speeds relative to `scale` make beta unit-free


def test_one_euro_checks_its_input():
    f = OneEuroFilter()
    f(np.zeros(2), 1.0)
    with pytest.raises(InputError, match="increase"):
        f(np.zeros(2), 1.0)
    with pytest.raises(InputError, match="shape"):
        f(np.zeros(3), 2.0)
    with pytest.raises(InputError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0)
    with pytest.raises(InputError, match="beta"):
        OneEuroFilter(beta=-1)


# --- tracking on real clips ---------------------------------------------------------------------------
def _track(aligner, name, start=0, count=30, **options):
    with VideoReader.open(media("videos", name)) as reader:
        return process_stream(aligner, reader, None, start_frame=start, max_frames=count, progress=False, **options)


def test_one_face_keeps_one_id(placeholder_aligner):
    res = _track(placeholder_aligner, "single_face.mp4", count=40)
    assert res.num_frames == 40 and all(len(f) == 1 for f in res.frames)
    assert res.track_ids == [0]
    assert all(f[0].score > 0.5 for f in res.frames)


def test_face_leaves(placeholder_aligner):
    res = _track(placeholder_aligner, "face_noface.mov", start=55, count=40)
    counts = [len(f) for f in res.frames]
    assert counts[0] == 1 and counts[-1] == 0
    gone = counts.index(0)
    assert not any(counts[gone:])  # once gone, nothing is hallucinated
    assert res.track_ids == [0]


def test_face_arrives(placeholder_aligner):
    res = _track(placeholder_aligner, "noface_face.mov", start=80, count=40)
    counts = [len(f) for f in res.frames]
    assert counts[0] == 0 and counts[-1] == 1
    first = counts.index(1)
    assert all(counts[first:]) and len(res.track_ids) == 1


def test_no_face_clip(placeholder_aligner):
    res = _track(placeholder_aligner, "no_face.mp4", count=15)
    assert res.num_frames == 15 and res.num_faces == 0 and res.track_ids == []


def test_faces_keep_distinct_stable_ids_and_reappear_with_a_new_one(placeholder_aligner):
    """Two faces on a still photo, then a blank frame, then the photo again."""
    image = load_image(media("images", "trump_hillary.jpg"))
    tracker = FaceTracker(placeholder_aligner, detect_interval=3)
    seq = [tracker.update(image, i / 30) for i in range(6)]
    ids = [[f.track_id for f in faces] for faces in seq]
    assert all(i == ids[0] for i in ids) and len(set(ids[0])) == len(ids[0]) >= 2
    assert tracker.update(np.zeros_like(image), 0.25) == []
    back = tracker.update(image, 0.3)
    assert len(back) == len(ids[0]) and not set(f.track_id for f in back) & set(ids[0])


def test_aligner_track_yields_one_list_per_frame(placeholder_aligner):
    image = load_image(media("images", "two_people.jpg"))
    out = list(placeholder_aligner.track([image] * 4, fps=25, detect_interval=2))
    assert len(out) == 4 and all(len(faces) == 2 for faces in out)
    assert all([f.track_id for f in faces] == [0, 1] for faces in out)


def test_smoothing_reduces_jitter(placeholder_aligner):
    """The same photo with fresh noise each frame: smoothed landmarks move less."""
    image = load_image(media("images", "single_face.jpg"))
    rng = np.random.default_rng(0)
    frames = [np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    motion = {}
    for smoothing in (None, Smoothing(min_cutoff=0.5, beta=0.0)):
        tracker = FaceTracker(placeholder_aligner, smoothing=smoothing)
        pts = np.array([tracker.update(f, i / 30)[0].landmarks for i, f in enumerate(frames)])
        motion[smoothing is None] = np.abs(np.diff(pts[5:], axis=0)).mean()
    assert motion[False] < 0.5 * motion[True]


def test_tracker_options_are_checked(placeholder_aligner):
    with pytest.raises(InputError, match="detect_interval"):
        FaceTracker(placeholder_aligner, detect_interval=0)
    with pytest.raises(InputError, match="check_size"):
        FaceTracker(placeholder_aligner, check_size=8)
    with pytest.raises(InputError, match="beta"):
        Smoothing(beta=-1)


# --- files ------------------------------------------------------------------------------------------
def test_annotated_video_and_results(tmp_path, placeholder_aligner):
    with VideoReader.open(media("videos", "single_face.mp4")) as reader:
        res = process_stream(placeholder_aligner, reader, tmp_path / "out.mp4", draw=("landmarks", "box", "mesh"),
                             max_frames=8, progress=False)
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 8
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 360)
    cap.release()
    res.save(tmp_path / "out.json")
    res.save(tmp_path / "out.npz")
    import json

    data = json.loads((tmp_path / "out.json").read_text())
    assert len(data["frames"]) == 8 and data["frames"][3]["faces"][0]["track_id"] == 0
    with np.load(tmp_path / "out.npz") as z:
        assert np.array_equal(z["frame"], np.arange(8)) and z["landmarks_3d"].shape == (8, 68, 3)
    assert all("vertices" not in f.__dict__ for faces in res.frames for f in faces)  # dense meshes dropped
    with pytest.raises(InputError, match=".json or .npz"):
        res.save(tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.mp4", "out.npz"]


def test_bad_videos(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        VideoReader.open(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        VideoReader.open(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(ImageError, match="cannot read video"):
        VideoReader.open(tmp_path / "junk.mp4")


def test_no_camera_is_a_clear_error():
    with pytest.raises(InputError, match="cannot open camera 97"):
        open_camera(97)
