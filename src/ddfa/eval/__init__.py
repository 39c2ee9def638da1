"""Evaluation: AFLW2000-3D accuracy (the paper's Table 1 protocols) and the stability benchmark."""

from ddfa.eval.aflw2000 import AflwReport, evaluate_aflw2000, load_aflw2000
from ddfa.eval.predictors import (
    LandmarkPredictor, MeanShapePredictor, ParamsPredictor, PosePredictor, make_predictor, register_predictor,
)
from ddfa.eval.stability import ClipConfig, StabilityReport, evaluate_stability, evaluate_stability_aflw2000

__all__ = [
    "AflwReport", "evaluate_aflw2000", "load_aflw2000",
    "LandmarkPredictor", "PosePredictor", "MeanShapePredictor", "ParamsPredictor", "make_predictor",
    "register_predictor", "ClipConfig", "StabilityReport", "evaluate_stability", "evaluate_stability_aflw2000",
]
