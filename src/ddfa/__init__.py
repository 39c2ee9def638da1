"""ddfa: fast, accurate and stable 3D dense face alignment.

    >>> from ddfa import FaceAligner
    >>> faces = FaceAligner().align("photo.jpg")   # list[Face]: .landmarks, .vertices, .pose, .expression
"""

import os

__version__ = "0.1.0"

# Idle OpenMP workers sleep instead of spinning: with torch on 2+ threads on a busy machine, spinning
# workers made each call 4-20x slower than one thread (docs/robustness.md). Process-wide, and only
# effective when ddfa is imported before torch; set OMP_WAIT_POLICY yourself to choose otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["FaceAligner", "FaceModel", "__version__"]


def __getattr__(name):  # imported on first use: `import ddfa` stays cheap for the CLI
    if name == "FaceAligner":
        from ddfa.pipeline import FaceAligner

        return FaceAligner
    if name == "FaceModel":
        from ddfa.morphable import FaceModel

        return FaceModel
    raise AttributeError(f"module 'ddfa' has no attribute {name!r}")
