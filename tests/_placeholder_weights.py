"""An untrained regressor checkpoint with a realistic output mean, for plumbing tests.

The network is ``create_model("mobilenet_v1", width=0.5)`` with its random
initial weights (its outputs are small), and the normaliser mean is the mean of
the 62 parameters fitted (``LandmarkFitter``) to 50 real 300-W faces cropped by
the training rule, std 1: every crop decodes to a plausible frontal face that
fills the crop as a real prediction would. Accuracy tests need the trained
bundled weights instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def make_placeholder_checkpoint(path: Path, n_faces: int = 50, seed: int = 0) -> Path:
    torch = pytest.importorskip("torch", reason='the placeholder weights need torch: pip install ".[train]"')

    from ddfa.data.readers import read_300w
    from ddfa.morphable import FaceModel, Normalizer
    from ddfa.morphable.fit import LandmarkFitter
    from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks
    from ddfa.nets import create_model
    from ddfa.nets.checkpoint import save_checkpoint

    if not (SHARED / "300w").is_dir():
        pytest.skip("needs ../shared/data/300w to build the placeholder weights (shared data not available)")
    items = read_300w(SHARED / "300w")
    items = items[:: max(1, len(items) // n_faces)][:n_faces]
    affines = np.stack([roi_from_landmarks(it.points).affine() for it in items])
    points = image_to_vertex(np.stack([it.points for it in items]), affines)
    params = LandmarkFitter(FaceModel.load()).fit(points).params
    torch.manual_seed(seed)
    net = create_model("mobilenet_v1", width=0.5)
    normalizer = Normalizer(params.mean(0).astype(np.float32), np.ones(params.shape[1], np.float32))
    return save_checkpoint(path, net, normalizer, "mobilenet_v1", {"width": 0.5}, meta={"placeholder": True})


@pytest.fixture(scope="session")
def placeholder_weights(tmp_path_factory) -> Path:
    """Path of the placeholder ``.pt`` checkpoint (built once per session, shared by the test modules)."""
    path = tmp_path_factory.getbasetemp() / "placeholder-weights" / "placeholder.pt"
    return path if path.is_file() else make_placeholder_checkpoint(path)


@pytest.fixture(scope="session")
def placeholder_aligner(placeholder_weights, tmp_path_factory):
    """A FaceAligner (onnxruntime) on the placeholder weights."""
    from ddfa.pipeline import FaceAligner

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DDFA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ddfa-cache"))
        return FaceAligner(weights=placeholder_weights, backend="onnxruntime", threads=1)


def bundled_weights_or_skip(model: str = "mobilenet_v1_0.5") -> Path:
    """The bundled trained weights, or skip the test (they are not committed yet)."""
    from ddfa.pipeline.regressor import bundled_weights

    path = bundled_weights(model, ".pt")
    if not path.is_file():
        pytest.skip(f"needs the trained bundled weights {path.name} (not installed yet)")
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Keep ONNX exports of the placeholder in a per-session temporary cache."""
    monkeypatch.setenv("DDFA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ddfa-cache"))
