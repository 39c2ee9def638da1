"""Parameter regressors: 120 x 120 RGB face crops -> 62 de-normalised 3DMM parameters.

Two interchangeable backends with the same call contract
(``crops`` uint8 ``(B, 120, 120, 3)`` RGB -> float32 ``(B, 62)`` parameters in
each crop's vertex frame, see :mod:`ddfa.morphable.frames`):

- :class:`OnnxRegressor` (default; CPU, ONNX Runtime, dynamic batch) runs a graph
  with input ``"image"`` float32 ``(B, 3, 120, 120)`` RGB 0..255 and output
  ``"params"`` ``(B, 62)`` with the normaliser already applied (see
  :func:`export_regressor_onnx`);
- :class:`TorchRegressor` runs a ``ddfa.nets.checkpoint`` file (``.pt``).

:class:`FlipTestRegressor` wraps either: it also regresses each crop's mirror image and
averages the two predictions (a test-time augmentation; twice the network time).
:class:`UprightRegressor` wraps any of them: a tilted head is turned upright inside its crop
and regressed again (the network was trained on up to 25 degrees of roll).

Weights are found by model name among the bundled files (``ddfa/assets/<model>.int8.onnx``,
the default of the ONNX backend, quantised by :mod:`ddfa.export.quantize`; ``<model>.onnx``
and ``<model>.pt``) or given as a path. When the
ONNX backend is asked for but only a ``.pt`` file exists, the ``.pt`` file is
exported once to the user cache (``$DDFA_CACHE_DIR``, else
``$XDG_CACHE_HOME/ddfa``, else ``~/.cache/ddfa``), keyed by its SHA-256.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ddfa._onnx import cpu_session
from ddfa.atomic import atomic_path
from ddfa.data.augment import compose_affines, invert_affines, policy_framed, similarity_matrix, warp_params
from ddfa.data.flip import flip_params
from ddfa.errors import DDFAError, InputError, ModelError
from ddfa.morphable import FaceModel
from ddfa.morphable.frames import CROP_SIZE
from ddfa.morphable.layout import N_PARAMS, pose_matrix
from ddfa.morphable.pose import decompose

__all__ = [
    "BACKENDS",
    "FlipTestRegressor",
    "MODEL_NAMES",
    "OnnxRegressor",
    "PRECISIONS",
    "ParamRegressor",
    "TorchRegressor",
    "UprightRegressor",
    "VIDEO_MODEL",
    "VIDEO_SETTINGS",
    "bundled_weights",
    "cache_dir",
    "export_regressor_onnx",
    "in_plane_angle",
    "load_param_regressor",
    "with_test_time_options",
]

MODEL_NAMES = ("mobilenet_v1_0.5", "efficientnet_lite0")  # the first is the still-image default (README)
VIDEO_MODEL = "efficientnet_lite0"  # the default of FaceAligner.track: the steadiest on video per millisecond
# how FaceAligner.track runs each bundled model unless told otherwise: (precision, flip test); measured on
# the AFLW2000-3D clips (docs/networks.md): the 0.5 jitters more in int8 (1.21 vs 1.11 %) and needs the flip
# test (0.85 %, stage 14), the Lite0 in one int8 pass is steadier still (0.44 %, stage 4) in about half that
# network time
VIDEO_SETTINGS = {"mobilenet_v1_0.5": ("float32", True), "efficientnet_lite0": ("int8", False)}
BACKENDS = ("onnxruntime", "torch")
PRECISIONS = ("int8", "float32")
ONNX_INPUT, ONNX_OUTPUT = "image", "params"
_EXPORT_HINT = "export it with: ddfa export onnx --weights MODEL.pt -o MODEL.onnx"


@runtime_checkable
class ParamRegressor(Protocol):
    """Crops uint8 ``(B, 120, 120, 3)`` RGB -> float32 ``(B, 62)`` parameters (crop vertex frame)."""

    def __call__(self, crops: np.ndarray) -> np.ndarray: ...


def _check_crops(crops: np.ndarray) -> np.ndarray:
    if not (isinstance(crops, np.ndarray) and crops.dtype == np.uint8
            and crops.shape[1:] == (CROP_SIZE, CROP_SIZE, 3)):
        desc = f"{crops.dtype} {crops.shape}" if isinstance(crops, np.ndarray) else type(crops).__name__
        raise InputError(f"crops must be uint8 (B, {CROP_SIZE}, {CROP_SIZE}, 3) RGB, got {desc}")
    return crops


def _check_threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    return threads


class OnnxRegressor:
    """ONNX Runtime (CPU) regressor of de-normalised parameters.

    Args:
        model: ``.onnx`` file (or its bytes) with input ``"image"`` and output ``"params"``.
        threads: intra-op threads; idle workers sleep instead of spinning.
    """

    def __init__(self, model: str | os.PathLike | bytes, threads: int = 1) -> None:
        threads = _check_threads(threads)
        name = "the ONNX model bytes" if isinstance(model, bytes) else f"ONNX weights '{model}'"
        self._session = cpu_session(model, threads, name)
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if inputs != [ONNX_INPUT] or ONNX_OUTPUT not in outputs:
            raise ModelError(
                f"{name} is not a ddfa regressor graph: expected input '{ONNX_INPUT}' and output "
                f"'{ONNX_OUTPUT}', got inputs {inputs} and outputs {outputs}; {_EXPORT_HINT}"
            )
        self.threads = threads

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        crops = _check_crops(crops)
        if not len(crops):
            return np.zeros((0, N_PARAMS), np.float32)
        x = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        (params,) = self._session.run([ONNX_OUTPUT], {ONNX_INPUT: x})
        if params.shape != (len(crops), N_PARAMS):
            raise ModelError(f"the ONNX regressor returned shape {params.shape}, expected ({len(crops)}, {N_PARAMS})")
        return params


class TorchRegressor:
    """PyTorch (CPU) regressor from a ``ddfa.nets.checkpoint`` file.

    ``threads`` is applied with ``torch.set_num_threads`` for the duration of each
    call (torch's setting is process-wide) and restored afterwards.
    """

    def __init__(self, weights: str | os.PathLike, threads: int = 1) -> None:
        from ddfa._optional import require

        require("torch", "the torch backend")
        from ddfa.nets.checkpoint import load_regressor

        self.threads = _check_threads(threads)
        try:
            self._regressor = load_regressor(weights)
        except DDFAError:
            raise
        except Exception as exc:  # state-dict mismatch, unknown arch kwargs, ...
            raise ModelError(f"cannot build the network of '{weights}': {exc}") from exc

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        import torch

        crops = _check_crops(crops)
        if not len(crops):
            return np.zeros((0, N_PARAMS), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return np.asarray(self._regressor(x), np.float32)
        finally:
            torch.set_num_threads(before)


def bundled_weights(model: str, suffix: str) -> Path:
    """Path of a bundled weights file ``ddfa/assets/<model><suffix>`` (it may not exist)."""
    return Path(str(resources.files("ddfa.assets") / f"{model}{suffix}"))


def cache_dir() -> Path:
    """The user cache folder for exported ONNX files (see the module docstring)."""
    if os.environ.get("DDFA_CACHE_DIR"):
        return Path(os.environ["DDFA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ddfa"


def _cached_onnx(weights: Path) -> Path:
    """Export ``weights`` (.pt) to the cache once; returns the cached ``.onnx`` path."""
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    target = cache_dir() / f"{weights.stem}-{digest}.onnx"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return export_regressor_onnx(weights, target)
    except OSError as exc:
        raise ModelError(
            f"cannot write the ONNX export of '{weights}' to the cache '{target.parent}' ({exc}); "
            f"set DDFA_CACHE_DIR to a writable folder, use backend 'torch', or {_EXPORT_HINT}"
        ) from exc


class FlipTestRegressor:
    """Flip test: the mean of the predictions for each crop and its mirror image, the mirror's
    parameters mapped back by :func:`ddfa.data.flip.flip_params` (both run in one batch).

    The 62 parameters are averaged, so the result is again one set per face; on AFLW2000-3D
    that scores the same NME, to 0.001 point, as averaging the two sets of 68 landmarks.
    """

    def __init__(self, regressor: ParamRegressor, face_model: FaceModel | None = None) -> None:
        self.regressor = regressor
        self.face_model = face_model or FaceModel.load()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        crops = _check_crops(crops)
        both = np.asarray(self.regressor(np.concatenate([crops, crops[:, :, ::-1]])), dtype=np.float32)
        n = len(crops)
        return ((both[:n] + flip_params(both[n:], CROP_SIZE, self.face_model)) / 2).astype(np.float32)


def in_plane_angle(params: np.ndarray) -> np.ndarray:
    """``(B, 62)`` vertex-frame params -> ``(B,)`` float64 in-plane rotation of the head in degrees,
    counter-clockwise on screen: the angle of the face's up axis projected on the image. Unlike the
    Euler roll it stays meaningful in profile views."""
    R = decompose(pose_matrix(np.asarray(params, np.float64)))[1]
    return np.degrees(np.arctan2(-R[:, 0, 1], R[:, 1, 1]))


class UprightRegressor:
    """Upright pass for tilted heads, a deterministic two-step crop refinement.

    A face whose predicted in-plane rotation exceeds ``min_roll`` degrees is rotated upright
    inside its crop and re-framed by the crop policy (as training frames rolled faces), regressed
    again, and the prediction is mapped back to the input crop's vertex frame exactly
    (:func:`ddfa.data.augment.warp_params`). This repeats up to ``passes`` times on the faces
    still tilted. ``min_roll = 10`` and ``passes = 2`` were chosen on held-out 300-W crops
    (``benchmarks/val_roll.py --upright``).

    The switch is soft: across ``min_roll -+ ramp / 2`` degrees the answer moves linearly from
    the one-pass parameters to the upright ones, so a head turning through the threshold in a
    video does not jump (``ramp = 0`` is a hard switch). Faces below ``min_roll - ramp / 2``
    cost nothing extra and get exactly the one-pass answer.
    """

    def __init__(self, regressor: ParamRegressor, face_model: FaceModel | None = None,
                 min_roll: float = 10.0, passes: int = 2, ramp: float = 10.0) -> None:
        if passes < 1 or ramp < 0 or min_roll - ramp / 2 < 0:
            raise InputError("the upright pass needs passes >= 1, ramp >= 0 and min_roll >= ramp / 2, "
                             f"got min_roll {min_roll}, passes {passes}, ramp {ramp}")
        self.regressor = regressor
        self.face_model = face_model or FaceModel.load()
        self.min_roll, self.passes, self.ramp = float(min_roll), int(passes), float(ramp)

    def weight(self, roll: np.ndarray) -> np.ndarray:
        """``(B,)`` in-plane angles in degrees -> ``(B,)`` float64 share of the upright answer in [0, 1]."""
        excess = np.abs(roll) - self.min_roll
        if self.ramp == 0:
            return (excess > 0).astype(np.float64)
        return np.clip(excess / self.ramp + 0.5, 0.0, 1.0)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        crops = _check_crops(crops)
        params = np.array(self.regressor(crops), dtype=np.float32)
        active, current = np.arange(len(crops)), params
        to_crop = None  # (B, 2, 3) input crop -> the crop last regressed, made once a face is tilted
        centre = (CROP_SIZE - 1) / 2
        for step in range(self.passes):  # the first step's crops are the input crops: no warp
            if step:
                current = warp_params(params[active], to_crop[active], height=CROP_SIZE)
            roll = in_plane_angle(current)
            w = self.weight(roll)
            tilted = w > 0
            if not tilted.any():
                break
            active, current, roll, w = active[tilted], current[tilted], roll[tilted], w[tilted]
            if to_crop is None:
                to_crop = np.tile(np.eye(3)[:2], (len(crops), 1, 1))
            turn = similarity_matrix(1.0, -roll, 0.0, 0.0, centre=(centre, centre))
            to_crop[active] = compose_affines(policy_framed(self.face_model, current, turn), to_crop[active])
            upright = np.stack([cv2.warpAffine(crops[i], a, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                                               borderMode=cv2.BORDER_REPLICATE) for i, a in zip(active, to_crop[active])])
            again = warp_params(self.regressor(upright), invert_affines(to_crop[active]), height=CROP_SIZE)
            params[active] = ((1 - w[:, None]) * params[active] + w[:, None] * again).astype(np.float32)
        return params


def with_test_time_options(regressor: ParamRegressor, face_model: FaceModel, flip_test: bool = False,
                           upright: bool = False) -> ParamRegressor:
    """``regressor`` wrapped by :class:`FlipTestRegressor` and then :class:`UprightRegressor`, as asked
    (each upright pass is then flip-tested too)."""
    if flip_test:
        regressor = FlipTestRegressor(regressor, face_model)
    if upright:
        regressor = UprightRegressor(regressor, face_model)
    return regressor


def load_param_regressor(
    model: str = MODEL_NAMES[0],
    backend: str = "onnxruntime",
    weights: str | os.PathLike | None = None,
    threads: int = 1,
    precision: str | None = None,
) -> ParamRegressor:
    """Build a regressor by model name (bundled weights) or from an explicit weights file.

    Args:
        model: bundled model name, one of ``MODEL_NAMES``; ignored when ``weights`` is given.
        backend: ``"onnxruntime"`` (default) or ``"torch"``.
        weights: ``.onnx`` (onnxruntime only) or ``.pt`` checkpoint; None uses the bundled files.
        threads: CPU threads of the network.
        precision: bundled ONNX weights only: ``"int8"`` (``<model>.int8.onnx``, post-training
            quantised, about half the float32 network time at the same accuracy, docs/speed.md) or
            ``"float32"``; None picks int8 for the onnxruntime backend and float32 for torch
            and for a weights file (whose own type decides).

    Raises:
        InputError: unknown backend, model name or precision, or int8 asked of torch or a weights file.
        ModelError: the weights are missing, unreadable or of the wrong kind.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    if precision not in (None, *PRECISIONS):
        raise InputError(f"unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}")
    if precision == "int8" and (backend == "torch" or weights is not None):
        raise InputError("precision 'int8' is for the bundled ONNX weights; for a weights file, quantise it "
                         "(ddfa export onnx --weights W.pt -o W.int8.onnx --int8 CACHE) and pass the .onnx file")
    if weights is None:
        if model not in MODEL_NAMES:
            raise InputError(f"unknown model '{model}'; choose one of: {', '.join(MODEL_NAMES)} "
                             "(or pass a weights file)")
        int8 = backend == "onnxruntime" and precision != "float32"
        pt, onnx = bundled_weights(model, ".pt"), bundled_weights(model, ".int8.onnx" if int8 else ".onnx")
        if backend == "onnxruntime" and onnx.is_file():
            path = onnx
        elif pt.is_file() and not int8:
            path = pt
        else:
            raise ModelError(
                f"the weights of model '{model}' are not installed: expected '{onnx if int8 else pt}'"
                f"{' or ' + repr(str(onnx)) if backend == 'onnxruntime' and not int8 else ''}; "
                "install a ddfa release that bundles them, or pass a weights file "
                "(FaceAligner(weights=...) / --weights PATH)"
            )
    else:
        path = Path(weights)
        if not path.is_file():
            raise ModelError(f"weights file not found: '{path}'")
    if path.suffix.lower() == ".onnx":
        if backend == "torch":
            raise ModelError(f"the torch backend needs a .pt checkpoint, got the ONNX file '{path}'; "
                             "use backend 'onnxruntime'")
        return OnnxRegressor(path, threads)
    if backend == "torch":
        return TorchRegressor(path, threads)
    return OnnxRegressor(_cached_onnx(path), threads)


def export_regressor_onnx(
    weights: str | os.PathLike, output: str | os.PathLike, opset: int = 17, verify: bool = True
) -> Path:
    """Export a ``.pt`` checkpoint to ONNX with the normaliser baked in as a last op.

    The graph maps input ``"image"`` float32 ``(B, 3, 120, 120)`` RGB 0..255 to
    output ``"params"`` float32 ``(B, 62)`` = ``net(image) * std + mean``, with a
    dynamic batch axis. The file is written atomically; with ``verify`` ONNX
    Runtime is checked against torch on random crops (batch 1 and 5).

    Raises:
        ModelError: the checkpoint is missing or unreadable.
        ExportError (a DDFAError): export or verification failed.
    """
    from ddfa._optional import require

    onnx = require("onnx", "exporting a .pt checkpoint to ONNX")
    torch = require("torch", "exporting a .pt checkpoint to ONNX")
    from torch import nn

    from ddfa.export.onnx import export_onnx, verify_onnx
    from ddfa.nets.checkpoint import load_regressor

    reg = load_regressor(weights)

    class Denormalized(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = reg.net
            self.register_buffer("mean", torch.as_tensor(reg.normalizer.mean).reshape(1, -1))
            self.register_buffer("std", torch.as_tensor(reg.normalizer.std).reshape(1, -1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x) * self.std + self.mean

    wrapper = Denormalized().eval()
    output = Path(output)
    with atomic_path(output, suffix=".onnx") as tmp:
        export_onnx(wrapper, tmp, opset=opset, input_size=CROP_SIZE)
        graph = onnx.load(tmp)
        meta = {"ddfa.output": "de-normalised 62-d parameters, crop vertex frame",
                "ddfa.arch": reg.arch, "ddfa.arch_kwargs": repr(reg.arch_kwargs),
                "ddfa.source": Path(weights).name}
        for key, value in meta.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, tmp)
        if verify:
            # relative tolerance: parameters reach ~100 (translations in crop pixels)
            scale = float(np.abs(reg.normalizer.mean).max() + np.abs(reg.normalizer.std).max())
            verify_onnx(wrapper, tmp, atol=1e-5 * max(1.0, scale) + 1e-4, input_size=CROP_SIZE)
    return output
