"""ddfa: fast, accurate and stable 3D dense face alignment.

    >>> from ddfa import FaceAligner
    >>> faces = FaceAligner().align("photo.jpg")   # list[Face]: .landmarks, .vertices, .pose, .expression
"""

__version__ = "0.1.0"

__all__ = ["FaceAligner", "FaceModel", "__version__"]


def __getattr__(name):  # imported on first use: `import ddfa` stays cheap for the CLI
    if name == "FaceAligner":
        from ddfa.pipeline import FaceAligner

        return FaceAligner
    if name == "FaceModel":
        from ddfa.morphable import FaceModel

        return FaceModel
    raise AttributeError(f"module 'ddfa' has no attribute {name!r}")
