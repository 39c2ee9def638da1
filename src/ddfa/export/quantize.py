"""Post-training int8 quantisation of ddfa's ONNX graphs (ONNX Runtime static quantisation).

Convolution weights become int8 per output channel and activations uint8, with ranges
calibrated on real inputs; the graph is written in QDQ form, which ONNX Runtime's CPU provider
runs as integer convolutions. The op types named in ``keep_float`` stay float32: for the regressor
its last layer and de-normalisation (the 62 parameters span four orders of magnitude); its first two
convolutions (the stem's convolution, whose three input channels make the integer kernel about 3x slower
than the float one, and the first depthwise convolution) stay float32 as well: at the same accuracy the
MobileNetV1 0.5's graph runs in 0.74-0.85x the time, the EfficientNet-Lite0's in 0.91-0.98x (docs/speed.md).
Needs the ``onnx`` package (``pip install "ddfa[train]"``).

:func:`regressor_calibration` draws the regressor's calibration crops from a training cache
(``ddfa data build``), never from an evaluation set. (The RetinaFace detector quantised the same
way lost faces, docs/speed.md, so it ships in float32.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ddfa._optional import require
from ddfa.atomic import atomic_path
from ddfa.errors import InputError

__all__ = ["quantize_onnx", "quantize_regressor_onnx", "regressor_calibration"]

REGRESSOR_FLOAT_OPS = ("Gemm", "Mul", "Add")  # the last layer and the de-normalisation
REGRESSOR_FLOAT_CONVS = 2  # the stem's convolution and the first depthwise one: faster in float32

_MIN_OPSET = 13  # per-channel QuantizeLinear / DequantizeLinear


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike, inputs: Sequence[dict[str, np.ndarray]],
                  keep_float: Sequence[str] = (), method: str = "percentile", percentile: float = 99.95,
                  float_leading_convs: int = 0) -> Path:
    """Write an int8 QDQ copy of the float32 ONNX graph ``src`` to ``dst`` (atomically).

    Args:
        src: float32 ONNX file; graphs below opset 13 are converted first.
        dst: output ``.onnx`` path.
        inputs: calibration feeds, each ``{input name: array}`` as the graph is run.
        keep_float: op types left in float32 (e.g. ``("Gemm", "Mul", "Add")``).
        method: activation range calibration: ``"percentile"`` clips each activation's range at its
            ``percentile``-th percentile on the calibration inputs; ``"minmax"`` keeps the full range.
        percentile: for ``"percentile"``; 99.95 measured best on the held-out crops (docs/speed.md).
        float_leading_convs: leave the graph's first this many ``Conv`` nodes in float32 as well.

    Raises:
        InputError: no calibration inputs or an unknown method.
    """
    onnx = require("onnx", "int8 quantisation")
    from onnx import version_converter
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise InputError(f"unknown calibration method '{method}'; choose one of: {', '.join(methods)}")
    if not len(inputs):
        raise InputError("int8 quantisation needs at least one calibration input")

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(inputs)

        def get_next(self):
            return next(self._it, None)

    graph = onnx.load(str(src))
    keep_ops = set(keep_float)
    dst = Path(dst)
    with tempfile.TemporaryDirectory() as tmp:
        if graph.opset_import[0].version < _MIN_OPSET:
            graph = version_converter.convert_version(graph, _MIN_OPSET)
        onnx.save(graph, f"{tmp}/float.onnx")
        quant_pre_process(f"{tmp}/float.onnx", f"{tmp}/prepared.onnx")
        prepared = onnx.load(f"{tmp}/prepared.onnx")
        excluded = [n.name for n in prepared.graph.node if n.op_type in keep_ops]
        excluded += [n.name for n in prepared.graph.node if n.op_type == "Conv"][:float_leading_convs]
        with atomic_path(dst, suffix=".onnx") as out:
            quantize_static(f"{tmp}/prepared.onnx", str(out), Feeds(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=excluded, calibrate_method=methods[method],
                            extra_options={"CalibPercentile": percentile})
    return dst


def quantize_regressor_onnx(src: str | os.PathLike, dst: str | os.PathLike, cache: str | os.PathLike,
                            n: int = 512, seed: int = 0) -> Path:
    """The int8 copy of a float32 regressor graph (``ddfa export onnx``), calibrated on ``n`` training
    crops of ``cache``, its first two convolutions, last layer and de-normalisation kept float32; how the
    bundled ``<model>.int8.onnx`` files are made."""
    return quantize_onnx(src, dst, regressor_calibration(cache, n, seed), keep_float=REGRESSOR_FLOAT_OPS,
                         float_leading_convs=REGRESSOR_FLOAT_CONVS)


def regressor_calibration(cache: str | os.PathLike, n: int = 512, seed: int = 0,
                          batch: int = 32) -> list[dict[str, np.ndarray]]:
    """A seeded sample of a cache's training crops as regressor feeds ``{"image": (batch, 3, 120, 120)}``
    float32 RGB 0..255: ``n`` crops rounded down to whole batches (histogram calibration needs one
    input shape), at least one batch."""
    from ddfa.pipeline.regressor import ONNX_INPUT

    path = Path(cache) / "train_images.npy"
    if not path.is_file():
        raise InputError(f"no training crops at '{path}'; build a cache with: ddfa data build --out {cache}")
    images = np.load(path, mmap_mode="r")
    batch = min(batch, n, len(images))
    n = max(batch, min(n, len(images)) // batch * batch)
    idx = np.sort(np.random.default_rng(seed).choice(len(images), size=n, replace=False))
    crops = np.asarray(images[idx]).transpose(0, 3, 1, 2).astype(np.float32)
    return [{ONNX_INPUT: crops[s:s + batch]} for s in range(0, n, batch)]
