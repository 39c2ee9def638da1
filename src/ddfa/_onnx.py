"""One way to open ONNX Runtime CPU sessions for every model ddfa runs."""

from __future__ import annotations

import os
from pathlib import Path

from ddfa.errors import ModelError


def cpu_session(model: str | os.PathLike | bytes, threads: int, what: str):
    """An ``onnxruntime.InferenceSession`` on the CPU with ``threads`` intra-op threads.

    ``model`` is a file path or the model's bytes; ``what`` names it in errors. Idle
    worker threads sleep instead of spinning: spinning halves the speed of 2 threads
    on a 2-core machine as soon as anything else runs.
    """
    import onnxruntime as ort

    if not isinstance(model, bytes):
        if not Path(model).is_file():
            raise ModelError(f"{what} not found: '{model}'")
        model = str(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's exception types are not exported
        raise ModelError(f"cannot load {what}: {exc}") from exc
