"""Tests of ddfa.eval: metrics, predictors, the AFLW2000-3D protocols and the stability benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from ddfa.cli.main import main
from ddfa.errors import InputError, ModelError
from ddfa.eval.aflw2000 import PROTOCOLS, evaluate_aflw2000, load_aflw2000
from ddfa.eval.metrics import align_scale_shift, angle_error, box_size, ced, nme, yaw_bin
from ddfa.eval.predictors import (
    LandmarkPredictor,
    MeanShapePredictor,
    ParamsPredictor,
    PosePredictor,
    make_predictor,
    predictor_names,
)
from ddfa.eval.stability import ClipConfig, evaluate_stability, stability_error, synthesize_clip
from ddfa.io import load_image
from ddfa.morphable import compose, layout

# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aflw():
    return load_aflw2000(shared_path("aflw2000-3d"))


@pytest.fixture(scope="module")
def subset(aflw):
    """30 crops: per |yaw| bin, the first 6 / 4 / 3 exact and 6 / 6 / 5 estimated ones (unequal bins,
    so that the mean of bin means differs from the plain mean)."""
    bins = yaw_bin(aflw.yaw_deg)
    counts = {(0, True): 6, (1, True): 4, (2, True): 3, (0, False): 6, (1, False): 6, (2, False): 5}
    idx = [np.flatnonzero((bins == b) & (aflw.exact == e))[:k] for (b, e), k in counts.items()]
    return aflw.subset(np.sort(np.concatenate(idx)))


class Oracle:
    """Returns stored ground truth for a box it knows (+ a constant offset): a predictor whose error is known."""

    def __init__(self, points: np.ndarray, offset=(0.0, 0.0), keys: np.ndarray | None = None):
        keys = points if keys is None else keys
        self.table = {self._key(k): p for k, p in zip(keys, np.asarray(points, np.float32))}
        self.offset = np.array([*offset, 0.0], np.float32)

    @staticmethod
    def _key(p):
        p = np.asarray(p)
        box = np.concatenate([p[..., :2].min(0), p[..., :2].max(0)]) if p.ndim == 2 else p
        return tuple(np.round(box.astype(np.float64), 2))

    def predict(self, images, boxes):
        out = [self.table[self._key(b)] for b in boxes]
        out = np.stack([np.pad(p, ((0, 0), (0, 3 - p.shape[1]))) for p in out])
        return out + self.offset


# --- metrics ------------------------------------------------------------------------------


def test_nme_of_ground_truth_and_of_a_shift(aflw):
    gt = aflw.points[:50]
    np.testing.assert_array_equal(nme(gt, gt), 0)
    shift = np.array([3.0, -4.0, 0.0])  # 5 px
    wh = gt[..., :2].max(1) - gt[..., :2].min(1)
    np.testing.assert_allclose(nme(gt + shift, gt), 100 * 5 / np.sqrt(wh[:, 0] * wh[:, 1]), rtol=1e-5)
    np.testing.assert_allclose(box_size(gt), np.sqrt(wh.prod(1)), rtol=1e-6)
    with pytest.raises(InputError):
        nme(gt[:, :10], gt)
    with pytest.raises(InputError, match="degenerate"):
        nme(np.zeros((68, 2)), np.zeros((68, 2)))


def test_alignment_removes_scale_and_shift_only(aflw, rng):
    gt = aflw.points[:40, :, :2].astype(np.float64)
    c = gt.mean(1, keepdims=True)
    pred = (gt - c) / rng.uniform(0.7, 1.4, (40, 1, 1)) + c + rng.normal(0, 20, (40, 1, 2))
    assert np.all(nme(pred, gt) > 1)
    np.testing.assert_allclose(nme(align_scale_shift(pred, gt), gt), 0, atol=1e-9)
    # noise: alignment can only lower the error; a rotation is not undone
    noisy = pred + rng.normal(0, 2, pred.shape)
    assert np.all(nme(align_scale_shift(noisy, gt), gt) <= nme(noisy, gt) + 1e-9)
    a = np.deg2rad(10)
    rot = (gt - c) @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) + c
    assert np.all(nme(align_scale_shift(rot, gt), gt) > 1)


def test_yaw_bins_and_angle_errors():
    yaw = np.array([0, -12, 30, 30.01, -45, 60, 60.5, -89, 90, 118.9, -351.2])
    np.testing.assert_array_equal(yaw_bin(yaw), [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    np.testing.assert_allclose(angle_error([0, 10, 170], [351.2, -10, -170]), [8.8, 20, 20], atol=1e-9)
    with pytest.raises(InputError):
        yaw_bin([np.nan])


def test_ced_counts_failures():
    e = np.array([1.0, 2.0, 2.0, np.nan])
    np.testing.assert_allclose(ced(e, np.array([0.5, 1.0, 2.0, 100.0])), [0, 0.25, 0.75, 0.75])


# --- predictors ---------------------------------------------------------------------------


def test_mean_shape_fills_the_box_and_is_frontal(face_model, rng):
    pred = make_predictor("mean-shape", face_model)
    assert isinstance(pred, LandmarkPredictor) and isinstance(pred, PosePredictor)
    lo = rng.uniform(0, 200, (8, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(30, 150, (8, 2))], 1).astype(np.float32)
    images = [np.zeros((300, 300, 3), np.uint8)] * 8
    pts, angles = pred.predict_with_pose(images, boxes)
    assert pts.shape == (8, 68, 3) and pts.dtype == np.float32
    np.testing.assert_allclose(np.concatenate([pts[..., :2].min(1), pts[..., :2].max(1)], 1), boxes, atol=2e-3)
    np.testing.assert_allclose(angles, 0, atol=1e-6)
    nose, chin, brow = pts[:, 30], pts[:, 8], pts[:, 19]
    assert np.all(chin[:, 1] > nose[:, 1]) and np.all(nose[:, 1] > brow[:, 1])  # upright in a y-down image
    assert np.all(pts[:, 36, 0] < pts[:, 45, 0])  # subject's right eye (point 36) on the image left
    assert np.all(nose[:, 2] > pts[:, 0, 2])  # the nose is closer than the jaw


def test_params_predictor_crops_with_the_policy(face_model):
    """A regressor that finds a bright spot in its crop and puts the nose tip (point 30) on it:
    the predicted point must land on the spot in the image."""
    spot = np.array([171.3, 142.6])
    y, x = np.mgrid[:320, :300]
    image = np.repeat((255 * np.exp(-((x - spot[0]) ** 2 + (y - spot[1]) ** 2) / 8)).astype(np.uint8)[..., None], 3, -1)
    nose = face_model.landmark_mean[30]

    def regress(crops):
        assert crops.shape == (2, 120, 120, 3) and crops.dtype == np.uint8
        w = crops[..., 0].astype(np.float64)
        v, u = np.mgrid[:120, :120]
        c = np.stack([(w * u).sum((1, 2)), (w * v).sum((1, 2))], 1) / w.sum((1, 2))[:, None]
        t = np.concatenate([c[:, :1] - 3 * nose[0], (119 - c[:, 1:]) - 3 * nose[1], np.zeros((2, 1))], 1)
        T = compose(np.full(2, 3.0), np.broadcast_to(np.eye(3), (2, 3, 3)), t)
        return layout.join(T, np.zeros((2, layout.N_SHAPE)))

    boxes = np.array([[120, 90, 230, 200], [150, 120, 190, 170]], np.float32)
    pts = ParamsPredictor(face_model, regress).predict([image, image], boxes)
    np.testing.assert_allclose(pts[:, 30, :2], np.broadcast_to(spot, (2, 2)), atol=0.1)


def test_predictor_inputs_are_checked(face_model):
    pred = MeanShapePredictor(face_model)
    img = [np.zeros((50, 50, 3), np.uint8)]
    with pytest.raises(InputError):
        pred.predict(img, np.zeros((1, 3)))
    with pytest.raises(InputError):
        pred.predict(img * 2, np.array([[0, 0, 10, 10]]))
    with pytest.raises(InputError):
        pred.predict(img, np.array([[10, 10, 5, 20]]))
    with pytest.raises(InputError):
        pred.predict([np.zeros((50, 50), np.uint8)], np.array([[0, 0, 10, 10]]))
    with pytest.raises(InputError, match="regressor"):
        ParamsPredictor(face_model, lambda c: np.zeros((1, 5))).predict(img, np.array([[0, 0, 10, 10]]))
    with pytest.raises(InputError, match="unknown predictor"):
        make_predictor("nope", face_model)
    with pytest.raises(InputError, match="weights"):
        make_predictor("mean-shape", face_model, weights="w.pt")
    assert "mean-shape" in predictor_names()


# --- AFLW2000-3D --------------------------------------------------------------------------


def test_aflw2000_loader(aflw, tmp_path):
    assert len(aflw) == 1083 and aflw.exact.sum() == 199
    assert aflw.points.shape == (1083, 68, 3) and aflw.points_re.shape == (1083, 68, 2)
    boxes = aflw.boxes
    assert np.all(boxes[:, 2:] > boxes[:, :2])
    im = load_image(aflw.image_paths[0])
    assert im.shape == (384, 384, 3)
    # published yaw sign: > 0 when the nose is left of the face centre in the image
    nose_dx = aflw.points[:, 30, 0] - (boxes[:, 0] + boxes[:, 2]) / 2
    ok = np.abs(aflw.yaw_deg) < 90
    assert np.corrcoef(nose_dx[ok], aflw.yaw[ok])[0, 1] > 0.9
    with pytest.raises(InputError):
        load_aflw2000(tmp_path)


def test_oracle_scores_zero_and_offset_scores_analytically(subset):
    exact = evaluate_aflw2000(Oracle(subset.points), subset, progress=False)
    for proto in ("exact", "aligned"):
        s = exact.nme[proto]
        assert s.mean_of_bins == 0 and s.mean == 0 and sum(s.counts) == (subset.exact.sum() if proto == "exact" else 30)
    assert exact.nme["exact-re"].mean > 0  # the two ground truths differ
    assert exact.yaw_error is None

    nan = Oracle(subset.points * np.where(np.arange(68) == 5, np.nan, 1)[:, None], keys=subset.points)
    with pytest.raises(InputError, match="finite"):
        evaluate_aflw2000(nan, subset, progress=False)

    shifted = evaluate_aflw2000(Oracle(subset.points, offset=(1.5, -2.0)), subset, progress=False, batch_size=7)
    expected = 100 * 2.5 / box_size(subset.points)
    np.testing.assert_allclose(shifted.per_image["nme"], expected, rtol=1e-5)
    ex, bins = subset.exact, yaw_bin(subset.yaw_deg)
    means = [expected[ex & (bins == b)].mean() for b in range(3)]
    np.testing.assert_allclose(shifted.nme["exact"].bins, means, rtol=1e-5)
    np.testing.assert_allclose(shifted.nme["exact"].mean_of_bins, np.mean(means), rtol=1e-5)
    np.testing.assert_allclose(shifted.nme["exact"].mean, expected[ex].mean(), rtol=1e-5)
    np.testing.assert_allclose(shifted.per_image["nme_aligned"], 0, atol=1e-4)  # a pure shift is aligned away

    # against the re-annotated ground truth, normalised by its own box
    re_ = evaluate_aflw2000(Oracle(subset.points_re, (1.5, -2.0), keys=subset.points), subset, progress=False)
    np.testing.assert_allclose(re_.per_image["nme_re"], 100 * 2.5 / box_size(subset.points_re), rtol=1e-5)
    assert re_.nme["exact-re"].mean_of_bins > 0 and re_.nme["aligned-re"].mean < 1e-4


def test_mean_shape_baseline_end_to_end(subset, face_model, tmp_path):
    report = evaluate_aflw2000(MeanShapePredictor(face_model), subset, name="mean-shape", progress=False)
    assert set(report.nme) == set(PROTOCOLS)
    for s in report.nme.values():
        assert np.isfinite(s.mean_of_bins) and all(c > 0 for c in s.counts) and not any(s.misses)
    frontal = report.nme["aligned"].bins[0]
    assert 4 < frontal < 15, frontal  # no fit at all, yet the right shape in the right box
    assert report.nme["exact"].bins[0] < report.nme["exact"].bins[2]  # profiles are harder
    # frontal mean face: the yaw error is the (wrapped) ground-truth yaw
    np.testing.assert_allclose(report.per_image["yaw_error"], angle_error(0, subset.yaw), atol=1e-4)

    paths = report.save(tmp_path)
    assert json.loads(paths["json"].read_text())["nme"]["exact"]["mean_of_bins"] == pytest.approx(
        report.nme["exact"].mean_of_bins)
    md = paths["markdown"].read_text()
    assert "| exact | original |" in md and "→ **" in md
    assert load_image(paths["ced"]).shape[2] == 3
    with np.load(paths["per_image"]) as z:
        np.testing.assert_array_equal(z["names"], subset.names)
        assert z["landmarks"].shape == (30, 68, 3)


def test_detector_boxes_end_to_end(subset, face_model):
    from ddfa.detect import RetinaFaceDetector

    try:
        detector = RetinaFaceDetector()
    except ModelError as exc:
        pytest.skip(f"detector weights unavailable: {exc}")
    data = subset.subset(np.flatnonzero(yaw_bin(subset.yaw_deg) == 2))  # profiles: some are missed
    report = evaluate_aflw2000(MeanShapePredictor(face_model), data, detector=detector, progress=False)
    d = report.per_image["detected"]
    assert report.boxes == "detector" and d.sum() >= 5
    bins = yaw_bin(data.yaw_deg)
    assert report.nme["aligned"].misses == tuple(int(np.sum(~d & (bins == k))) for k in range(3))
    assert np.all(np.isnan(report.per_image["nme"][~d])) and np.all(np.isfinite(report.per_image["nme"][d]))
    # the detector's box is not the landmark box
    assert not np.allclose(report.per_image["box"][d], data.boxes[d])


# --- stability ----------------------------------------------------------------------------


def test_synthetic_clip_ground_truth_follows_the_image():
    y, x = np.mgrid[:160, :160]
    pts = np.array([[60.0, 70.0], [100.0, 75.0], [80.0, 110.0]])
    image = np.zeros((160, 160, 3), np.uint8)
    image[..., 0] = (255 * np.exp(-((x - pts[0, 0]) ** 2 + (y - pts[0, 1]) ** 2) / 8)).astype(np.uint8)
    cfg = ClipConfig(n_frames=5, max_scale=0.05, max_angle=5, max_shift=0.05, noise_sigma=0, max_blur=4)
    clip = synthesize_clip(np.random.default_rng(0), image, pts, cfg)
    assert clip.frames.shape == (5, 160, 160, 3) and clip.points.shape == (5, 3, 2)
    np.testing.assert_allclose(clip.points[0], pts, atol=1e-5)
    assert np.ptp(clip.points[:, 0], axis=0).max() > 1  # it moves
    again = synthesize_clip(np.random.default_rng(0), image, pts, cfg)
    np.testing.assert_array_equal(again.frames, clip.frames)

    calls = []

    def hook(rng, img, p, k):  # an out-of-plane stand-in: move the source right by k px
        calls.append(k)
        return np.roll(img, k, axis=1), p + [k, 0]

    hooked = synthesize_clip(np.random.default_rng(0), image, pts, cfg, out_of_plane=hook)
    assert calls == list(range(5))
    for c in (clip, hooked):
        for frame, gt in zip(c.frames, c.points):
            w = frame[..., 0].astype(np.float64)
            np.testing.assert_allclose([(w * x).sum() / w.sum(), (w * y).sum() / w.sum()], gt[0], atol=0.15)
    assert np.abs(hooked.points[-1] - clip.points[-1]).max() > 2

    # each move turns about the face centre of the previous frame: without shift and scale it stays put
    turn = ClipConfig(n_frames=4, max_scale=0, max_angle=10, max_shift=0, noise_sigma=0, max_blur=0)
    spun = synthesize_clip(np.random.default_rng(1), image, pts, turn).points
    np.testing.assert_allclose(spun.mean(1), np.broadcast_to(pts.mean(0), (4, 2)), atol=1e-4)
    assert np.abs(spun[-1] - pts).max() > 1


def test_stability_error_definition(rng):
    gt = rng.normal(100, 20, (3, 6, 68, 2))
    np.testing.assert_array_equal(stability_error(gt, gt), 0)
    np.testing.assert_allclose(stability_error(gt + [2.0, 1.0], gt), 0, atol=1e-9)
    jitter = gt.copy()
    jitter[:, 3] += [3.0, 4.0]  # one frame off by 5 px: two pairs see it
    e = stability_error(jitter, gt)
    size = box_size(gt)
    np.testing.assert_allclose(e[:, 2], 100 * 5 / ((size[:, 2] + size[:, 3]) / 2))
    np.testing.assert_allclose(e[:, [0, 1, 4]], 0, atol=1e-9)


def test_stability_benchmark_with_known_predictors(subset, face_model):
    data = subset.subset(np.flatnonzero(subset.exact)[:6])
    images = [load_image(p) for p in data.image_paths]
    cfg = ClipConfig(n_frames=4)
    clips = [synthesize_clip(np.random.default_rng([7, i]), im, p, cfg)
             for i, (im, p) in enumerate(zip(images, data.points))]
    truth = np.concatenate([c.points for c in clips])

    perfect = evaluate_stability(Oracle(truth), images, data.points, config=cfg, seed=7, progress=False)
    assert perfect.nme == 0 and perfect.stability == 0
    biased = evaluate_stability(Oracle(truth, offset=(2.0, 1.0)), iter(images), data.points, config=cfg, seed=7,
                                progress=False, batch_size=8)
    assert biased.nme > 0.5 and biased.stability == pytest.approx(0, abs=1e-5)
    mean = evaluate_stability(MeanShapePredictor(face_model), images, data.points, config=cfg, seed=7, progress=False)
    assert 0 < mean.stability < mean.nme  # the mean face does not turn with the head
    assert mean.per_clip["nme"].shape == (6, 4) and mean.per_clip["stability"].shape == (6, 3)
    assert "stability" in mean.to_markdown()
    with pytest.raises(InputError):
        evaluate_stability(Oracle(truth), images[:5], data.points, config=cfg, seed=7, progress=False)


# --- CLI ----------------------------------------------------------------------------------


def test_cli_eval(tmp_path, capsys):
    pytest.importorskip("scipy", reason='ddfa eval needs scipy: pip install ".[train]"')
    data = shared_path("aflw2000-3d")
    assert main(["eval", "aflw2000", "--data", str(data), "--limit", "12", "-o", str(tmp_path / "a")]) == 0
    assert "| exact | original |" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"report.md", "report.json", "ced.png", "per_image.npz"}
    assert main(["eval", "stability", "--data", str(data), "--limit", "3", "--frames", "3",
                 "-o", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s" / "report.json").read_text())["clips"] == 3
    assert main(["eval", "aflw2000", "--data", str(data), "--weights", "x.pt", "--limit", "2"]) == 1
    assert main(["eval", "aflw2000", "--data", str(tmp_path)]) == 1
    assert main(["eval", "aflw2000", "--data", str(data), "--flip-test", "--limit", "2"]) == 1  # mean shape
    assert "flip test needs a predictor that regresses" in capsys.readouterr().err
    assert main(["eval", "aflw2000", "--data", str(data), "--upright", "--limit", "2"]) == 1  # mean shape
    assert "upright pass needs a predictor that regresses" in capsys.readouterr().err


@pytest.mark.parametrize("flag, label", [("--flip-test", "flip test"), ("--upright", "upright")])
def test_cli_eval_test_time_options(tmp_path, capsys, flag, label):
    """--flip-test (each crop and its mirror) and --upright (tilted heads again, turned upright) run the
    shipped network; on 64 AFLW2000-3D crops either is no worse than one pass."""
    from _placeholder_weights import bundled_weights_or_skip

    pytest.importorskip("torch", reason='the network predictor needs torch: pip install ".[train]"')
    weights = bundled_weights_or_skip("mobilenet_v1_0.5")
    data = shared_path("aflw2000-3d")
    nme = {}
    for on in (False, True):
        out = tmp_path / str(on)
        args = ["eval", "aflw2000", "--data", str(data), "--predictor", "network", "--weights", str(weights),
                "--limit", "64", "-o", str(out)] + ([flag] if on else [])
        assert main(args) == 0
        nme[on] = json.loads((out / "report.json").read_text())["nme"]["aligned"]["mean"]
    assert f"network ({label})" in capsys.readouterr().out
    assert nme[True] < nme[False] * 1.02, nme


def test_convention_offsets_remove_a_planted_definition_and_not_noise(aflw, face_model, rng):
    """benchmarks/landmark_convention.py: a fixed per-landmark offset in the face's own frame, planted on real
    AFLW2000-3D faces at their real in-plane angles, is removed; pure noise is not (cross-validation)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from landmark_convention import cross_validated_offsets, upright_rotation

    gt = aflw.points[:400, :, :2].astype(np.float64)
    rot = upright_rotation(gt, face_model)  # (N, 2, 2): image frame -> upright face frame
    upright_gt = np.einsum("nij,npj->npi", rot, gt - gt.mean(1, keepdims=True))
    assert np.abs(upright_gt[:, 36:42, 1].mean() - upright_gt[:, 42:48, 1].mean()) < 0.03 * np.ptp(upright_gt[..., 0])
    group = (aflw.yaw_deg[:400] < 0).astype(int)
    planted = rng.normal(0, 2.0, (2, 68, 2))  # % of the box, one definition per side
    noise = rng.normal(0, 2.0, gt.shape)
    residual = np.einsum("nji,npj->npi", rot, planted[group]) + noise
    removed = residual - cross_validated_offsets(residual, rot, group, repeats=4)
    error = lambda r: np.linalg.norm(r, axis=-1).mean()  # noqa: E731
    assert error(removed) < 1.1 * error(noise) < error(residual)
    assert error(noise - cross_validated_offsets(noise, rot, group, repeats=4)) >= error(noise)
