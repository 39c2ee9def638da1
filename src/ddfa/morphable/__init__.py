"""The 3D morphable face model: parameters, pose, reconstruction and fitting."""

from ddfa.morphable import layout
from ddfa.morphable.layout import N_PARAMS, Normalizer
from ddfa.morphable.model import FaceModel, TorchFaceModel
from ddfa.morphable.pose import compose, decompose, euler_from_pose_matrix, euler_from_rotation, rotation_from_euler

__all__ = [
    "FaceModel", "TorchFaceModel", "Normalizer", "N_PARAMS", "layout",
    "compose", "decompose", "euler_from_pose_matrix", "euler_from_rotation", "rotation_from_euler",
]
