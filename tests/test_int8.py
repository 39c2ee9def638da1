"""int8 regressors: the bundled quantised graphs, the still/video precision split, and quantisation itself.

Accuracy is compared on real 300-W faces against the float32 graph of the same weights; the
bundled files are checked to be what ``ddfa export onnx --int8`` makes (integer ops inside)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.morphable.frames import roi_from_landmarks, vertex_to_image
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.crop import crop_faces
from ddfa.pipeline.regressor import VIDEO_MODEL, MODEL_NAMES, OnnxRegressor, bundled_weights, load_param_regressor


def _int8_or_skip(model: str = MODEL_NAMES[0]):
    path = bundled_weights(model, ".int8.onnx")
    if not path.is_file():
        pytest.skip(f"needs the bundled {path.name}")
    return path


def _real_crops(items) -> tuple[np.ndarray, np.ndarray]:
    """Crops (B, 120, 120, 3) of real faces by the training rule, and their crop affines (B, 2, 3)."""
    rois = [roi_from_landmarks(it.points) for it in items]
    crops = [crop_faces(load_image(it.image_path), [roi])[0][0] for it, roi in zip(items, rois)]
    return np.stack(crops), np.stack([roi.affine() for roi in rois])


def _quantised(path) -> bool:
    import onnxruntime as ort

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    return meta.custom_metadata_map.get("onnx.quant.pre_process") == "onnxruntime.quant"


def _integer_convs(path) -> list[bool]:
    """For each ``Conv`` of a QDQ graph in order: whether it reads a dequantised (integer) activation."""
    onnx = pytest.importorskip("onnx", reason='reading graphs needs onnx: pip install ".[train]"')
    nodes = onnx.load(str(path)).graph.node
    dequantised = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    return [n.input[0] in dequantised for n in nodes if n.op_type == "Conv"]


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_bundled_int8_keeps_only_the_first_two_convolutions_float(model):
    convs = _integer_convs(_int8_or_skip(model))
    assert len(convs) > 20 and convs == [False, False] + [True] * (len(convs) - 2)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_bundled_int8_is_quantised_and_as_accurate_as_float32(model, w300_subset, face_model):
    path = _int8_or_skip(model)
    assert _quantised(path) and not _quantised(bundled_weights(model, ".onnx"))
    assert path.stat().st_size < 0.4 * bundled_weights(model, ".onnx").stat().st_size  # int8 weights
    crops, affines = _real_crops(w300_subset)
    gt = np.stack([it.points for it in w300_subset])
    size = np.sqrt(np.prod(gt.max(1) - gt.min(1), axis=-1))
    nme = {}
    for precision in ("int8", "float32"):
        params = load_param_regressor(model, precision=precision)(crops)
        lms = vertex_to_image(face_model.vertices(params, dense=False), affines)[..., :2]
        nme[precision] = float((np.linalg.norm(lms - gt, axis=-1).mean(1) / size).mean())
    assert nme["int8"] < nme["float32"] * 1.05 + 0.001, nme  # 60 real faces: no accuracy lost
    assert nme["int8"] != nme["float32"]  # and it is another graph


def test_stills_run_the_05_in_int8_and_video_the_lite0_in_int8():
    """Defaults: still images by the 0.5, int8, one pass; track() by the Lite0 (VIDEO_MODEL), int8, one pass.
    A named 0.5 runs track() in float32 with the flip test (its own VIDEO_SETTINGS)."""
    _int8_or_skip()
    _int8_or_skip(VIDEO_MODEL)
    image = load_image(shared_path("media", "images", "trump_hillary.jpg"))
    default = FaceAligner(prerotate=False)
    stills = FaceAligner(model="mobilenet_v1_0.5", precision="int8", flip_test=False, prerotate=False)
    fp32, video = (FaceAligner(model="mobilenet_v1_0.5", precision="float32", flip_test=f, prerotate=False)
                   for f in (False, True))
    lite0 = FaceAligner(model=VIDEO_MODEL, precision="int8", flip_test=False, prerotate=False)
    faces = default.align(image)
    assert len(faces) >= 2
    boxes = [f.box for f in faces]
    for a, b, c in zip(faces, stills.align(image, boxes=boxes), fp32.align(image, boxes=boxes)):
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
        assert np.abs(a.landmarks - c.landmarks).max() > 1e-3
        assert np.abs(a.landmarks - c.landmarks).mean() < 0.02 * (a.box[3] - a.box[1])
    frames = [image] * 2
    tracked = {name: sum(al.track(frames, smoothing=None), []) for name, al in
               (("default", default), ("lite0", lite0), ("0.5", FaceAligner(model="mobilenet_v1_0.5", prerotate=False)),
                ("video", video), ("fp32", fp32))}
    for a, b in zip(tracked["default"], tracked["lite0"]):
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
    for a, b, c, d in zip(tracked["default"], tracked["0.5"], tracked["video"], tracked["fp32"]):
        np.testing.assert_array_equal(b.landmarks, c.landmarks)
        assert np.abs(b.landmarks - d.landmarks).max() > 1e-3  # the 0.5's flip test is on
        assert np.abs(a.landmarks - b.landmarks).max() > 1e-3  # another network
        assert np.abs(a.landmarks - b.landmarks).mean() < 0.03 * (a.box[3] - a.box[1])  # the same face
    assert default.video_regressor is not default.regressor
    assert stills.video_regressor is stills.regressor  # int8, no flip test: one regressor for both
    assert lite0.video_regressor is lite0.regressor
    named = FaceAligner(model=VIDEO_MODEL)  # its own settings are the stills' (int8, one pass)
    assert named.video_regressor is named.regressor


def test_precision_errors():
    with pytest.raises(InputError, match="unknown precision"):
        FaceAligner(precision="fp16")
    with pytest.raises(InputError, match="bundled ONNX"):
        load_param_regressor(backend="torch", precision="int8")
    with pytest.raises(InputError, match="quantise it"):
        load_param_regressor(weights="model.onnx", precision="int8")


def test_quantize_regressor_from_a_cache_of_real_crops(tmp_path, w300_subset):
    pytest.importorskip("onnx", reason='quantisation needs onnx: pip install ".[train]"')
    from ddfa.export.quantize import quantize_onnx, quantize_regressor_onnx

    src = bundled_weights(MODEL_NAMES[0], ".onnx")
    if not src.is_file():
        pytest.skip("needs the bundled float32 ONNX graph")
    crops, _ = _real_crops(w300_subset)
    np.save(tmp_path / "train_images.npy", crops[:40])
    out = quantize_regressor_onnx(src, tmp_path / "q.onnx", tmp_path, n=40)
    assert _quantised(out) and _integer_convs(out)[:3] == [False, False, True]
    a, b = OnnxRegressor(src)(crops[40:]), OnnxRegressor(out)(crops[40:])
    rel = np.abs(a - b).mean(0) / (np.abs(a).mean(0) + 1e-6)
    assert np.median(rel) < 0.2, rel  # close to float32 on faces it was not calibrated on
    assert not (tmp_path / "q.onnx").with_name(".q.onnx").exists()
    with pytest.raises(InputError, match="calibration input"):
        quantize_onnx(src, tmp_path / "x.onnx", [])
    with pytest.raises(InputError, match="unknown calibration method"):
        quantize_onnx(src, tmp_path / "x.onnx", [{"image": crops[:1].astype(np.float32)}], method="entropy")
    with pytest.raises(InputError, match="no training crops"):
        quantize_regressor_onnx(src, tmp_path / "x.onnx", tmp_path / "missing")
