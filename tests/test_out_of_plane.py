"""Tests of ddfa.eval.out_of_plane (profiling moves of the stability benchmark), on real AFLW2000-3D crops."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("scipy", reason='needs scipy: pip install ".[train]"')
from conftest import shared_path

from ddfa.cli.main import main
from ddfa.errors import InputError
from ddfa.eval.aflw2000 import load_aflw2000
from ddfa.eval.metrics import box_size
from ddfa.eval.out_of_plane import ProfilingMoves, lift_points, rotate_points
from ddfa.eval.predictors import MeanShapePredictor
from ddfa.eval.stability import ClipConfig, evaluate_stability, synthesize_clip
from ddfa.io import load_image

STILL = ClipConfig(n_frames=4, max_scale=0, max_angle=0, max_shift=0, noise_sigma=0, max_blur=0)


@pytest.fixture(scope="module")
def faces():
    """Four exact crops, |yaw| from frontal to about 45 degrees: (image, points (68, 3))."""
    data = load_aflw2000(shared_path("aflw2000-3d"))
    exact = np.flatnonzero(data.exact & (np.abs(data.yaw) < 50))
    pick = exact[np.argsort(np.abs(data.yaw[exact]))[np.linspace(0, len(exact) - 1, 4).astype(int)]]
    return [(load_image(data.image_paths[i]), data.points[i]) for i in pick]


@pytest.fixture(scope="module")
def hook(face_model):
    return ProfilingMoves(face_model)


def _sample(image, xy):
    xy = np.asarray(xy, np.float32).reshape(1, -1, 2)
    out = cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3).astype(np.float32)


def test_zero_rotation_returns_the_same_points(faces, hook, face_model):
    still = ProfilingMoves(face_model, max_yaw=0, max_pitch=0)
    for image, pts in faces[:2]:
        clip = synthesize_clip(np.random.default_rng(0), image, pts, STILL, out_of_plane=still)
        np.testing.assert_allclose(clip.points, np.broadcast_to(pts, clip.points.shape), atol=1e-3)
        lo, hi = pts[:, :2].min(0).astype(int), pts[:, :2].max(0).astype(int)
        diff = np.abs(clip.frames.astype(np.float32) - image.astype(np.float32))[:, lo[1]:hi[1], lo[0]:hi[0]]
        assert diff.mean() < 1.0, diff.mean()
        # frame 0 of a moving walk is the source pose too
        first = synthesize_clip(np.random.default_rng(1), image, pts, STILL, out_of_plane=hook)
        np.testing.assert_allclose(first.points[0], pts, atol=1e-3)
        assert np.abs(first.points[-1, :, :2] - pts[:, :2]).max() > 0.5  # and then it moves


def test_a_rotation_and_its_inverse_return_to_the_start(faces, face_model, hook):
    """There through the profiler, back from a scene of the rendered view (the next step of a walk)."""
    profiler = hook.profiler
    for image, pts in faces:
        lifted = lift_points(pts, hook.fitter)
        np.testing.assert_array_equal(lifted.points[:, :2], pts[:, :2])
        scene = profiler.scene(image, lifted.params)
        there = profiler.render(scene, 4.0, -2.0)
        moved = rotate_points(lifted.points, there.rotation, scene.centre)
        assert np.abs(moved[:, :2] - pts[:, :2]).max() > 2.0
        back_scene = profiler.scene(there.image, there.params)
        back = profiler.render(back_scene, -4.0, 2.0)
        home = rotate_points(moved, back.rotation, back_scene.centre)
        np.testing.assert_allclose(back.params, lifted.params, rtol=1e-4, atol=1e-3)
        assert np.abs(home[:, :2] - pts[:, :2]).max() < 0.1


def test_points_follow_the_rerendered_face(faces, face_model, hook):
    profiler = hook.profiler
    inner = np.arange(27, 68)  # nose, eyes, mouth: texture, not silhouette
    for image, pts in faces:
        lifted = lift_points(pts, hook.fitter)
        scene = profiler.scene(image, lifted.params)
        view = profiler.render(scene, 10.0, 4.0)
        moved = rotate_points(lifted.points, view.rotation, scene.centre)[:, :2]
        # the fitted landmarks move with the rendered face's parameters ...
        fitted = face_model.vertices(view.params[None])[0][lifted.landmark_ids, :2]
        np.testing.assert_allclose(fitted, rotate_points(lifted.fitted, view.rotation, scene.centre)[:, :2],
                                   atol=1e-2)
        assert np.abs(fitted - lifted.fitted[:, :2]).max() > 5.0
        # ... and the moved annotation stays where it was relative to them
        size = float(box_size(pts))
        before = np.linalg.norm(pts[:, :2] - lifted.fitted[:, :2], axis=1).mean() / size
        after = np.linalg.norm(moved - fitted, axis=1).mean() / size
        assert before == pytest.approx(lifted.error, rel=0.05)
        assert after < before + 0.003 and after < 0.06, (before, after)
        # and the colour under the moved points is the source's colour under the annotation
        ref = _sample(image, pts[inner, :2])
        err = np.abs(_sample(view.image, moved[inner]) - ref).mean()
        control = np.abs(_sample(view.image, pts[inner, :2]) - ref).mean()
        assert err < 0.6 * control, (err, control)


def test_hook_is_deterministic_and_builds_one_scene_per_source(faces, face_model):
    image, pts = faces[1]
    hook = ProfilingMoves(face_model)
    cfg = ClipConfig(n_frames=5)
    a = synthesize_clip(np.random.default_rng(3), image, pts, cfg, out_of_plane=hook)
    scene = hook.prepare(image, pts)[1]
    b = synthesize_clip(np.random.default_rng(3), image, pts, cfg, out_of_plane=hook)
    assert hook.prepare(image, pts)[1] is scene  # cached across the frames of both clips
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.points, b.points)
    fresh = synthesize_clip(np.random.default_rng(3), image, pts, cfg, out_of_plane=ProfilingMoves(face_model))
    np.testing.assert_array_equal(a.frames, fresh.frames)
    other = synthesize_clip(np.random.default_rng(4), image, pts, cfg, out_of_plane=hook)
    assert np.abs(other.points - a.points).max() > 0.5
    plain = synthesize_clip(np.random.default_rng(3), image, pts, cfg)
    assert np.abs(plain.points - a.points).max() > 0.5
    assert hook.prepare(faces[0][0], faces[0][1])[1] is not scene


def test_bad_calls_raise(faces, face_model):
    image, pts = faces[0]
    hook = ProfilingMoves(face_model)
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="out of order"):
        hook(rng, image, pts, 2)
    hook(rng, image, pts, 0)
    with pytest.raises(InputError, match="out of order"):
        hook(rng, image, pts + 1.0, 1)
    with pytest.raises(InputError, match="68"):
        hook(rng, image, pts[:10], 0)
    with pytest.raises(InputError, match="68"):
        hook(rng, image, np.full((68, 2), np.nan), 0)
    with pytest.raises(InputError):
        hook(rng, image, np.zeros((68, 2)), 0)
    with pytest.raises(InputError):
        ProfilingMoves(face_model, max_yaw=-1)


def test_stability_benchmark_with_profiling_moves(faces, face_model, tmp_path):
    images, points = [f[0] for f in faces[:3]], np.stack([f[1] for f in faces[:3]])
    cfg = ClipConfig(n_frames=3)
    hook = ProfilingMoves(face_model)
    report = evaluate_stability(MeanShapePredictor(face_model), images, points, config=cfg, seed=1,
                                out_of_plane=hook, progress=False)
    assert report.out_of_plane == str(hook) and "profiling" in report.to_markdown()
    assert report.to_dict()["out_of_plane"] == str(hook)
    assert 0 < report.stability < report.nme

    data = shared_path("aflw2000-3d")
    assert main(["eval", "stability", "--data", str(data), "--limit", "2", "--frames", "3",
                 "-o", str(tmp_path / "on")]) == 0
    assert "profiling" in json.loads((tmp_path / "on" / "report.json").read_text())["out_of_plane"]
    assert main(["eval", "stability", "--data", str(data), "--limit", "2", "--frames", "3", "--no-out-of-plane",
                 "-o", str(tmp_path / "off")]) == 0
    assert json.loads((tmp_path / "off" / "report.json").read_text())["out_of_plane"] is None
