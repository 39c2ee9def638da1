"""The end-to-end pipeline: :class:`FaceAligner` (images), :class:`FaceTracker` (video) and their outputs.

Names are imported from their submodules on first use, so that importing
``ddfa.pipeline.kinds`` (the CLI does, to list choices) stays cheap.
"""

from importlib import import_module

_EXPORTS = {
    "FaceAligner": "aligner",
    "Face": "face",
    "Pose": "face",
    "faces_to_arrays": "face",
    "DRAW_KINDS": "kinds",
    "EXPORT_FORMATS": "kinds",
    "OVERLAY_KINDS": "kinds",
    "save_outputs": "outputs",
    "BACKENDS": "regressor",
    "MODEL_NAMES": "regressor",
    "VIDEO_MODEL": "regressor",
    "export_regressor_onnx": "regressor",
    "load_param_regressor": "regressor",
    "OneEuroFilter": "smoothing",
    "FaceTracker": "tracking",
    "Smoothing": "tracking",
    "draw_faces": "visualize",
    "render": "visualize",
    "uv_texture": "visualize",
    "vertex_colors": "visualize",
    "VideoReader": "video",
    "open_camera": "video",
    "process_stream": "video",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f"ddfa.pipeline.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ddfa.pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
