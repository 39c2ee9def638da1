"""Landmark fitting on real 300-W faces and on synthetic faces with known parameters."""

import numpy as np
import pytest

from ddfa.morphable import compose, euler_from_pose_matrix, layout, rotation_from_euler
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks


def test_fit_recovers_synthetic_pose_and_landmarks(face_model, rng):
    B = 12
    yaw = rng.uniform(-50, 50, B)
    R = rotation_from_euler(yaw, rng.uniform(-15, 15, B), rng.uniform(-15, 15, B))
    T = compose(np.full(B, 4.0), R, np.c_[rng.uniform(50, 70, (B, 2)), np.zeros(B)])
    p = layout.join(T, rng.normal(0, 0.5, (B, 50))).astype(np.float32)
    pts = face_model.vertices(p, dense=False)[:, :, :2]
    fit = LandmarkFitter(face_model).fit(pts[:, :, :2], weights=np.r_[np.zeros(17), np.ones(51)][None].repeat(B, 0))
    got = euler_from_pose_matrix(layout.pose_matrix(fit.params))[:, 0]
    assert np.abs(got - yaw).max() < 5
    inner = np.linalg.norm(fit.fitted[:, 17:] - pts[:, 17:], axis=-1).mean()
    assert inner < 1.0  # px in a 120 px crop


def test_fit_on_real_300w_faces(face_model, w300_subset):
    pts = np.stack([it.points for it in w300_subset])
    aff = np.stack([roi_from_landmarks(p).affine() for p in pts])
    fit = LandmarkFitter(face_model).fit(image_to_vertex(pts, aff))
    err = fit.error * 100
    assert err.mean() < 3.0 and np.percentile(err, 95) < 4.5
    # the mean-shape placement is far worse than the fit
    mean_only = LandmarkFitter(face_model, iterations=1, sigma=1e3).fit(image_to_vertex(pts, aff))
    assert mean_only.error.mean() > 1.5 * fit.error.mean()


def test_fit_rejects_bad_input(face_model):
    f = LandmarkFitter(face_model)
    with pytest.raises(ValueError):
        f.fit(np.zeros((1, 5, 2)))
    with pytest.raises(ValueError):
        f.fit(np.full((1, 68, 2), np.nan))
    with pytest.raises(ValueError):
        f.fit(np.zeros((1, 68, 2)))
