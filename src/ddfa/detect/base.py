"""Detector interface: the :class:`Detection` result and the :class:`FaceDetector` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Detection", "FaceDetector"]


@dataclass(frozen=True)
class Detection:
    """One detected face, in the pixel frame of the image given to the detector.

    Attributes:
        box: float32 ``(4,)``: ``x0, y0, x1, y1``, the top-left and bottom-right
            corners in image pixels (x = column, y = row, origin at the centre
            of the top-left pixel). May reach slightly outside the image.
        score: confidence in ``[0, 1]``.
        landmarks5: float32 ``(5, 2)`` ``(x, y)`` or None: eye, eye, nose tip,
            mouth corner, mouth corner, each pair in image left-to-right order
            for an upright frontal face (the subject's right eye first).
    """

    box: np.ndarray
    score: float
    landmarks5: np.ndarray | None = None

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in an image."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect faces in an RGB ``uint8`` image ``(H, W, 3)``.

        Returns the detections sorted by score, highest first; an empty list
        when there is no face.
        """
        ...
