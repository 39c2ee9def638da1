"""ddfa.atomic: the one temp-file-then-rename helper behind every writer."""

import numpy as np
import pytest

from ddfa.atomic import atomic_path, atomic_write
from ddfa.morphable import Normalizer


def test_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary left
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_suffix_keeps_numpy_on_the_yielded_name(tmp_path):
    with atomic_path(tmp_path / "deep" / "a.npz", suffix=".npz") as tmp:
        np.savez(tmp, x=np.arange(3))  # np.savez appends .npz unless the name ends with it
    with np.load(tmp_path / "deep" / "a.npz") as z:
        assert z["x"].tolist() == [0, 1, 2]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["a.npz"]


def test_checkpoint_write_is_atomic(tmp_path):
    torch = pytest.importorskip("torch", reason='needs torch: pip install ".[train]"')
    from ddfa.nets import create_model
    from ddfa.nets.checkpoint import read_checkpoint, save_checkpoint

    net = create_model("mobilenet_v1", width=0.25)
    norm = Normalizer(np.zeros(62, np.float32), np.ones(62, np.float32))
    path = save_checkpoint(tmp_path / "w.pt", net, norm, "mobilenet_v1", {"width": 0.25})
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]
    state = read_checkpoint(path)["state_dict"]
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
