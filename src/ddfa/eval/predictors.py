"""Landmark predictors for evaluation.

A predictor maps images and face boxes to 68 image-frame 3D landmarks
(:class:`LandmarkPredictor`); one that also knows the head pose implements
:class:`PosePredictor`. :class:`ParamsPredictor` wraps any regressor of 62-d
parameters from 120x120 crops (the trained network plugs in there) and
:class:`MeanShapePredictor` is the mean-face baseline. Predictors are built by
name with :func:`make_predictor`; :func:`register_predictor` adds a name.

The crop policy for a box is the project's landmark policy
(:func:`ddfa.morphable.frames.roi_from_landmarks`): the box is taken as the
68-landmark box, and the square ROI is centred on it with side 1.5 x its
longer edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ddfa.errors import InputError
from ddfa.morphable import FaceModel, euler_from_pose_matrix, layout
from ddfa.morphable.frames import CROP_SIZE, image_to_vertex, landmark_crop_affines, vertex_to_image

__all__ = [
    "LandmarkPredictor", "PosePredictor", "ParamsPredictor", "MeanShapePredictor",
    "crop_affines", "crop_faces", "register_predictor", "make_predictor", "predictor_names",
]


@runtime_checkable
class LandmarkPredictor(Protocol):
    """Anything that predicts 68 landmarks from images and face boxes."""

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """images: B RGB uint8 ``(H, W, 3)``; boxes ``(B, 4)`` float32 ``x0, y0, x1, y1`` in
        image pixels -> landmarks ``(B, 68, 3)`` float32 in each image's frame."""
        ...


@runtime_checkable
class PosePredictor(Protocol):
    """A predictor that also returns the head pose."""

    def predict_with_pose(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like ``predict``, plus ``(B, 3)`` float32 (yaw, pitch, roll) in degrees
        (conventions of :mod:`ddfa.morphable.pose`)."""
        ...


def _check_inputs(images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"boxes must have shape (B, 4), got {boxes.shape}")
    if len(images) != len(boxes):
        raise InputError(f"got {len(images)} images but {len(boxes)} boxes")
    if not np.all(np.isfinite(boxes)) or np.any(boxes[:, 2:] - boxes[:, :2] <= 1):
        raise InputError("boxes must be finite x0, y0, x1, y1 with x1 > x0 + 1 and y1 > y0 + 1")
    for im in images:
        if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
            raise InputError(f"images must be RGB uint8 (H, W, 3) arrays, got {getattr(im, 'shape', type(im))}")
    return boxes


def crop_affines(boxes: np.ndarray) -> np.ndarray:
    """Boxes ``(B, 4)`` -> image-to-crop affines ``(B, 2, 3)`` float64 of the landmark crop policy."""
    return landmark_crop_affines(np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2)).reshape(-1, 2, 3)


def crop_faces(images: Sequence[np.ndarray], affines: np.ndarray) -> np.ndarray:
    """Resample each image with its affine ``(B, 2, 3)`` -> crops ``(B, 120, 120, 3)`` uint8 (black outside)."""
    out = np.empty((len(images), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, (im, a) in enumerate(zip(images, affines)):
        cv2.warpAffine(im, a, (CROP_SIZE, CROP_SIZE), dst=out[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT)
    return out


class _CropParamsPredictor:
    """Shared path: boxes -> crop affines -> vertex-frame params -> image landmarks and pose."""

    def __init__(self, model: FaceModel):
        self.model = model

    def _params(self, images: Sequence[np.ndarray], boxes: np.ndarray, affines: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_with_pose(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = _check_inputs(images, boxes)
        affines = crop_affines(boxes)
        params = np.asarray(self._params(images, boxes, affines), dtype=np.float32)
        if params.shape != (len(boxes), layout.N_PARAMS) or not np.all(np.isfinite(params)):
            raise InputError(f"the regressor must return finite ({len(boxes)}, {layout.N_PARAMS}) params, "
                             f"got shape {params.shape}")
        points = vertex_to_image(self.model.vertices(params, dense=False), affines)
        angles = euler_from_pose_matrix(layout.pose_matrix(params)).astype(np.float32)
        return points, angles

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        return self.predict_with_pose(images, boxes)[0]


class ParamsPredictor(_CropParamsPredictor):
    """Crop each face with the landmark policy and regress its 62 parameters.

    Args:
        model: the face model that decodes the parameters.
        regress: crops ``(B, 120, 120, 3)`` uint8 RGB -> params ``(B, 62)`` in each crop's vertex frame.
    """

    def __init__(self, model: FaceModel, regress: Callable[[np.ndarray], np.ndarray]):
        super().__init__(model)
        self.regress = regress

    def _params(self, images, boxes, affines):
        return self.regress(crop_faces(images, affines))


class MeanShapePredictor(_CropParamsPredictor):
    """Baseline: the frontal mean face, stretched so that its 68-landmark box is the given box.

    The pose is ``T = [diag(sx, sy, sqrt(sx sy)) | t]`` in the crop's vertex frame,
    so x and y are scaled separately to fill the box exactly; the reported pose is
    frontal (yaw = pitch = roll = 0). Images are not looked at.
    """

    def _params(self, images, boxes, affines):
        corners = image_to_vertex(boxes.reshape(-1, 2, 2), affines)  # (B, 2, 2): top-left, bottom-right
        lo_v, hi_v = corners.min(1), corners.max(1)
        lm = self.model.landmark_mean
        lo_m, hi_m = lm[:, :2].min(0), lm[:, :2].max(0)
        s = (hi_v - lo_v) / (hi_m - lo_m)  # (B, 2)
        t = (hi_v + lo_v) / 2 - s * (hi_m + lo_m) / 2
        T = np.zeros((len(boxes), 3, 4), np.float32)
        T[:, 0, 0], T[:, 1, 1], T[:, 2, 2] = s[:, 0], s[:, 1], np.sqrt(s[:, 0] * s[:, 1])
        T[:, :2, 3] = t
        return layout.join(T, np.zeros((len(boxes), layout.N_SHAPE), np.float32))


PredictorFactory = Callable[[FaceModel, "Path | None"], LandmarkPredictor]
_REGISTRY: dict[str, PredictorFactory] = {}


def register_predictor(name: str) -> Callable[[PredictorFactory], PredictorFactory]:
    """Decorator: register ``factory(model, weights: Path | None) -> LandmarkPredictor`` under ``name``."""

    def deco(factory: PredictorFactory) -> PredictorFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def predictor_names() -> list[str]:
    """Names accepted by :func:`make_predictor`."""
    return sorted(_REGISTRY)


def make_predictor(name: str, model: FaceModel | None = None, weights: str | Path | None = None,
                   flip_test: bool = False, upright: bool = False) -> LandmarkPredictor:
    """Build a registered predictor (``model`` defaults to the bundled face model). With ``flip_test``,
    a :class:`ParamsPredictor` regresses each crop and its mirror image and averages the two
    (:class:`ddfa.pipeline.regressor.FlipTestRegressor`); with ``upright``, tilted heads are regressed
    again turned upright (:class:`ddfa.pipeline.regressor.UprightRegressor`)."""
    if name not in _REGISTRY:
        raise InputError(f"unknown predictor '{name}'; choose one of: {', '.join(predictor_names())}")
    model = model or FaceModel.load()
    predictor = _REGISTRY[name](model, None if weights is None else Path(weights))
    if flip_test or upright:
        if not isinstance(predictor, ParamsPredictor):
            what = "the flip test" if flip_test else "the upright pass"
            raise InputError(f"{what} needs a predictor that regresses parameters; '{name}' does not")
        from ddfa.pipeline.regressor import with_test_time_options

        predictor.regress = with_test_time_options(predictor.regress, model, flip_test, upright)
    return predictor


@register_predictor("mean-shape")
def _mean_shape(model: FaceModel, weights: Path | None) -> LandmarkPredictor:
    if weights is not None:
        raise InputError("the mean-shape predictor takes no weights file")
    return MeanShapePredictor(model)


@register_predictor("network")
def _network(model: FaceModel, weights: Path | None) -> LandmarkPredictor:
    """A trained regressor: a ``.pt`` checkpoint (``ddfa train`` output or a bundled ``.pt``), run by
    torch, or an ``.onnx`` graph (``ddfa export onnx``), run by ONNX Runtime as the pipeline runs it."""
    if weights is None:
        raise InputError("the network predictor needs --weights PATH (a .pt checkpoint or an .onnx graph)")
    if weights.suffix.lower() == ".onnx":
        from ddfa.pipeline.regressor import OnnxRegressor

        return ParamsPredictor(model, OnnxRegressor(weights))

    from ddfa._optional import require

    torch = require("torch", "the network predictor with a .pt checkpoint")

    from ddfa.nets.checkpoint import load_regressor

    regressor = load_regressor(weights)

    def regress(crops: np.ndarray) -> np.ndarray:
        return regressor(torch.from_numpy(crops).permute(0, 3, 1, 2).float())

    return ParamsPredictor(model, regress)
