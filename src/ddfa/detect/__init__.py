"""Face detection: the :class:`FaceDetector` protocol and the default RetinaFace detector."""

from ddfa.detect.base import Detection, FaceDetector
from ddfa.detect.retinaface import RetinaFaceDetector

__all__ = ["Detection", "FaceDetector", "RetinaFaceDetector"]
