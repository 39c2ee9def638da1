"""Regression networks: 120x120 RGB face crop -> 3DMM parameter vector."""

from ddfa._optional import require

require("torch", "ddfa.nets (training, .pt export, the torch backend)")

from .base import LRROutput, ParamRegressor
from .efficientnet_lite import EfficientNetLite0
from .errors import NetError
from .mobilenet_v1 import MobileNetV1, PixelNormalize
from .profile import count_macs, count_parameters
from .registry import create_model, list_models, register_model

__all__ = [
    "EfficientNetLite0",
    "LRROutput",
    "MobileNetV1",
    "NetError",
    "ParamRegressor",
    "PixelNormalize",
    "count_macs",
    "count_parameters",
    "create_model",
    "list_models",
    "register_model",
]
