"""The inference install: no torch on the default path, extras named in errors, a CLI like its peers.

Each check runs a fresh interpreter (``sys.executable``) so that what it imports is what a user's
process would import; ``BLOCK_TORCH`` makes torch, onnx and scipy unimportable in it, as in an
install without the ``[train]`` extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import shared_path

import ddfa
from ddfa._optional import MissingDependencyError

BLOCK_TORCH = """
import sys
class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"torch", "onnx", "scipy"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Missing())
"""


def python(code: str, *, block_torch: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    code = (BLOCK_TORCH if block_torch else "") + code
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_default_inference_imports_no_torch(tmp_path):
    """`ddfa align` with the default ONNX backend, drawings and exports, runs without torch, onnx or scipy."""
    emma = shared_path("media", "images", "emma.jpg")
    proc = python(f"""
from ddfa.cli.main import main
code = main(["align", {str(emma)!r}, "-o", {str(tmp_path)!r}, "--draw", "landmarks,mesh,pose", "--export", "obj,json"])
print(code, sorted(m for m in ("torch", "onnx", "scipy") if m in sys.modules))
""", block_torch=True)
    assert proc.returncode == 0 and proc.stdout.split("\n")[-2] == "0 []", proc.stderr
    assert len(json.loads((tmp_path / "emma.json").read_text())["faces"]) == 4  # with the out-of-focus bystander
    assert (tmp_path / "emma_face0.obj").is_file() and (tmp_path / "emma_mesh.jpg").is_file()


@pytest.mark.parametrize("module", ["ddfa.nets", "ddfa.losses", "ddfa.train.trainer", "ddfa.export.onnx",
                                    "ddfa.data.profile"])
def test_training_modules_name_the_extra(module):
    proc = python(f"import {module}", block_torch=True)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ddfa._optional.MissingDependencyError:") and 'pip install "ddfa[train]"' in last
    assert issubclass(MissingDependencyError, ImportError)


def test_cli_without_torch_is_one_line():
    proc = python("import sys; from ddfa.cli.main import main; sys.exit(main(['train', '--config', 'x.toml']))",
                  block_torch=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("ddfa: error:") and 'pip install "ddfa[train]"' in proc.stderr


def test_python_dash_m_and_version():
    proc = subprocess.run([sys.executable, "-m", "ddfa", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ddfa {ddfa.__version__}"
    from importlib.metadata import version

    assert version("ddfa") == ddfa.__version__


@pytest.mark.parametrize("argv", [["align", "no/such.jpg", "-o", "out"], ["align", "x.jpg"], ["nope"],
                                  ["video", "no/such.mp4", "-o", "o.mp4"], ["align", "x.jpg", "-o", "o",
                                                                            "--threads", "zero"]])
def test_every_cli_error_is_one_line(argv):
    proc = subprocess.run([sys.executable, "-m", "ddfa", *argv], capture_output=True, text=True)
    assert proc.returncode in (1, 2) and proc.stderr.count("\n") == 1, proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_debug_env_gives_the_traceback(tmp_path):
    code = ("import sys; from ddfa.cli.main import main; sys.exit(main(['export', 'onnx', '--weights', "
            + repr(str(tmp_path / "missing.pt")) + ", '-o', " + repr(str(tmp_path / "x.onnx")) + "]))")
    quiet, loud = python(code), python(code, env={"DDFA_DEBUG": "1"})
    assert quiet.returncode == 1 and quiet.stderr.count("\n") == 1 and "Traceback" not in quiet.stderr
    assert loud.returncode != 0 and "Traceback" in loud.stderr


def test_results_convert_to_plain_dicts_and_arrays():
    emma = shared_path("media", "images", "emma.jpg")
    faces = ddfa.FaceAligner().align(str(emma))
    d = faces[0].to_dict()
    assert json.loads(json.dumps(d)) == d and np.allclose(d["landmarks_3d"], faces[0].landmarks_3d, atol=1e-3)
    one = faces[0].to_arrays(dense=True)
    assert one["landmarks_3d"].shape == (68, 3) and one["vertices"].shape == faces[0].vertices.shape
    every = ddfa.faces_to_arrays(faces, dense=False)
    assert every["landmarks_3d"].shape == (len(faces), 68, 3)
    assert np.array_equal(every["pose_angles"][0], one["pose_angles"])
