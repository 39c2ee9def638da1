"""Shared fixtures: the real face model and the ../shared data (skipped when absent)."""

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def shared_path(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{'/'.join(parts)} (shared data not available)")
    return path


@pytest.fixture(scope="session")
def face_model():
    from ddfa.morphable import FaceModel

    return FaceModel.load()


@pytest.fixture(scope="session")
def w300_subset():
    """60 real 300-W faces (every 25th, all subsets)."""
    from ddfa.data.readers import read_300w

    return read_300w(shared_path("300w"))[::25]


@pytest.fixture
def rng():
    return np.random.default_rng(0)
