"""Renders of the menpo3d scan at known poses (ddfa.eval.scan_views) and the shipped network on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from ddfa.errors import InputError
from ddfa.eval.metrics import nme
from ddfa.eval.predictors import make_predictor
from ddfa.eval.scan_views import evaluate_scan_views, load_scan, render_scan_views
from ddfa.pipeline.regressor import MODEL_NAMES, bundled_weights


@pytest.fixture(scope="module")
def scan():
    return load_scan(shared_path("media", "scan3d", "james.obj"))


def test_scan_landmarks_are_in_ibug_order(scan):
    p = scan.landmarks  # y up, x to the image right, facing +z
    assert p.shape == (68, 3) and scan.triangles.max() < len(scan.vertices)
    assert np.argmin(p[:17, 1]) in (7, 8, 9)  # the chin is the jaw's lowest point
    assert p[36, 0] < p[39, 0] < p[42, 0] < p[45, 0]  # eye corners left to right
    assert p[17:27, 1].min() > p[36:48, 1].max()  # brows above the eyes
    assert p[48:68, 1].max() < p[27:36, 1].min()  # mouth below the nose
    assert np.argmax(p[27:36, 2]) + 27 in (30, 31, 32, 33, 34)  # the nose tip or base is the most forward


def test_views_put_the_landmarks_on_the_rendered_face(scan):
    views = render_scan_views(scan, yaws=(-45, 0, 45), pitches=(0,), rolls=(0, 20), size=200)
    assert views.images.shape == (6, 200, 200, 3) and views.images.dtype == np.uint8
    assert views.landmarks.shape == (6, 68, 2)
    grey = render_scan_views(scan, yaws=(0,), pitches=(0,), rolls=(0,), size=200, background=None)
    background = (grey.images[0] == 128).all(-1)
    inside = np.round(grey.landmarks[0]).astype(int)
    assert not background[inside[:, 1], inside[:, 0]].any()  # every landmark lands on the scan
    frontal, turned = views.landmarks[2], views.landmarks[4]  # yaw 0 and 45, roll 0
    assert np.ptp(turned[:, 0]) < np.ptp(frontal[:, 0])  # a turned head is narrower on screen
    rolled = views.landmarks[3]
    eye_line = rolled[45] - rolled[36]
    assert abs(np.degrees(np.arctan2(-eye_line[1], eye_line[0])) - 20) < 3  # counter-clockwise on screen


def test_shipped_network_reads_the_scan_views(scan, face_model):
    views = render_scan_views(scan, yaws=(-30, 0, 30), pitches=(0,), rolls=(-15, 0, 15))
    predictor = make_predictor("network", face_model, weights=bundled_weights(MODEL_NAMES[0], ".int8.onnx"))
    report = evaluate_scan_views(predictor, views, name="int8")
    np.testing.assert_allclose(report.nme, nme(predictor.predict(list(views.images), views.boxes), views.landmarks))
    mean_face = evaluate_scan_views(make_predictor("mean-shape", face_model), views)
    assert report.mean < 6.0 and report.mean < 0.5 * mean_face.mean
    assert [(name, n) for name, n, _ in report.by_yaw()] == [("0-15", 3), ("30-45", 6)]


def test_cli_eval_scan_writes_its_report(tmp_path, capsys):
    from ddfa.cli.main import main

    obj = shared_path("media", "scan3d", "james.obj")
    assert main(["eval", "scan", "--scan", str(obj), "-o", str(tmp_path)]) == 0
    assert "mean-shape" in capsys.readouterr().out
    summary = json.loads((tmp_path / "report.json").read_text())
    per_view = np.load(tmp_path / "per_view.npz")
    assert summary["views"] == 81 == len(per_view["nme"]) and per_view["angles"].shape == (81, 3)
    assert summary["nme_mean"] == pytest.approx(float(per_view["nme"].mean()))
    assert main(["eval", "scan", "--scan", str(tmp_path / "missing.obj")]) != 0


def test_missing_scan_files_are_named(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_scan(tmp_path / "none.obj")
