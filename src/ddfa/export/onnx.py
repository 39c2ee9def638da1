"""ONNX export of the inference graph of a parameter regressor.

The exported graph has one input ``"image"``: float32 (B, 3, S, S) RGB pixel
values in [0, 255] (normalisation is inside the network), and one output
``"params"``: float32 (B, num_outputs); B is dynamic. Only ``model.forward``
is traced, so training-only heads (e.g. the LRR head, which ``forward`` never
runs) are absent from the graph.

Uses the TorchScript-based exporter (``dynamo=False``), which needs only the
``onnx`` package; the dynamo exporter would additionally need ``onnxscript``.
Verification needs ``onnxruntime``.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
from ddfa._optional import require

require("torch", "ONNX export")
import torch
from torch import nn

from ddfa.atomic import atomic_path
from ddfa.errors import DDFAError

INPUT_NAME = "image"
OUTPUT_NAME = "params"
SUPPORTED_OPSETS = range(9, 21)  # what the TorchScript exporter of torch 2.13 fully supports


class ExportError(DDFAError, RuntimeError):
    """The model cannot be exported, or the exported graph disagrees with torch."""


def _dummy_input(model: nn.Module, batch: int, input_size: int, seed: int = 0) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 3, input_size, input_size, generator=gen) * 255.0).to(device)


def export_onnx(model: nn.Module, path: str | os.PathLike, opset: int = 17, input_size: int = 120) -> Path:
    """Write the inference graph of ``model`` to ``path`` atomically; returns the path.

    ``model(x)`` must map float32 (B, 3, input_size, input_size) to a (B, N) tensor.
    The model's train/eval mode is restored afterwards.
    """
    if importlib.util.find_spec("onnx") is None:
        raise ExportError("ONNX export needs the 'onnx' package: pip install onnx")
    if not isinstance(model, nn.Module):
        raise ExportError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if opset not in SUPPORTED_OPSETS:
        lo, hi = SUPPORTED_OPSETS[0], SUPPORTED_OPSETS[-1]
        raise ExportError(f"opset must be an int in {lo}..{hi}, got {opset!r}")
    if not (isinstance(input_size, int) and input_size > 0):
        raise ExportError(f"input_size must be a positive int, got {input_size!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError(f"output directory does not exist: {path.parent}")

    was_training = model.training
    model.eval()
    try:
        with atomic_path(path) as tmp:
            _export_to(model, tmp, opset, input_size)
    finally:
        model.train(was_training)
    return path


def _export_to(model: nn.Module, tmp: Path, opset: int, input_size: int) -> None:
    """Trace ``model`` (in eval mode) into the ONNX file ``tmp`` and check it."""
    x = _dummy_input(model, 2, input_size)
    with torch.no_grad():
        out = model(x)
    if not (isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[0] == 2):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ExportError(f"model(x) must return a (B, N) tensor, got {got}")
    with warnings.catch_warnings():  # the TorchScript exporter is chosen deliberately
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (x,),
            tmp,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    import onnx  # present: checked by export_onnx

    onnx.checker.check_model(tmp)


def verify_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    batch_sizes: tuple[int, ...] = (1, 5),
    atol: float = 1e-4,
    input_size: int = 120,
) -> float:
    """Run torch and ONNX Runtime (CPU) on the same random pixels; return the max abs difference.

    Raises :class:`ExportError` when any difference exceeds ``atol``.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ExportError("ONNX verification needs 'onnxruntime': pip install onnxruntime") from e
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    was_training = model.training
    model.eval()
    worst = 0.0
    try:
        for i, batch in enumerate(batch_sizes):
            x = _dummy_input(model, batch, input_size, seed=i)
            with torch.no_grad():
                expected = model(x).cpu().numpy()
            (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.cpu().numpy()})
            if got.shape != expected.shape:
                raise ExportError(f"ONNX output shape {got.shape} != torch {expected.shape} at batch {batch}")
            worst = max(worst, float(np.abs(got - expected).max()))
    finally:
        model.train(was_training)
    if worst > atol:
        raise ExportError(f"ONNX and torch outputs differ by {worst:.3g} > atol={atol:g}")
    return worst
