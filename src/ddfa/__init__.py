"""ddfa: fast, accurate and stable 3D dense face alignment.

    >>> from ddfa import FaceAligner
    >>> faces = FaceAligner().align("photo.jpg")   # list[Face]: .landmarks, .vertices, .pose, .expression
    >>> faces[0].to_dict()                         # plain JSON-ready dict; .to_arrays(), faces_to_arrays(faces)
"""

import os

__version__ = "0.1.0"

# Idle OpenMP workers sleep instead of spinning: with torch on 2+ threads on a busy machine, spinning
# workers made each call 4-20x slower than one thread (docs/robustness.md). Process-wide, and only
# effective when ddfa is imported before torch; set OMP_WAIT_POLICY yourself to choose otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Face", "FaceAligner", "FaceModel", "faces_to_arrays", "__version__"]


def __getattr__(name):  # imported on first use: `import ddfa` stays cheap for the CLI
    if name in ("Face", "FaceAligner", "faces_to_arrays"):
        import ddfa.pipeline

        return getattr(ddfa.pipeline, name)
    if name == "FaceModel":
        from ddfa.morphable import FaceModel

        return FaceModel
    raise AttributeError(f"module 'ddfa' has no attribute {name!r}")
