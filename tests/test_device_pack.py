"""scripts/device_pack.py: the smaller 300-W copy carried to a GPU machine gives the same training crops."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ddfa.data.readers import read_300w
from ddfa.morphable.frames import CROP_SIZE, roi_from_landmarks

from conftest import shared_path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_pack.py"


def _crop(item):
    a = roi_from_landmarks(item.points).affine()
    return cv2.warpAffine(cv2.imread(str(item.image_path)), a, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE).astype(float)


def test_packed_faces_give_the_same_crops(tmp_path):
    w300 = shared_path("300w")
    spec = importlib.util.spec_from_file_location("device_pack", SCRIPT)
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    pack.pack_faces(w300, tmp_path / "300w", limit=6)
    originals, packed = read_300w(w300)[:6], read_300w(tmp_path / "300w")
    assert [p.name for p in packed] == [o.name for o in originals]
    for o, p in zip(originals, packed):
        assert max(cv2.imread(str(p.image_path)).shape[:2]) <= pack.MAX_SIDE
        ratio = np.ptp(p.points, 0) / np.ptp(o.points, 0)
        assert np.allclose(ratio, ratio.mean(), rtol=1e-2) and ratio.mean() <= 1.0
        # same 120-px crop: grey-level difference of a JPEG re-encode, not of a shifted face
        same = np.abs(_crop(o) - _crop(p)).mean()
        shifted = np.abs(_crop(o) - np.roll(_crop(p), 1, axis=1)).mean()
        assert same < 4 and same < shifted / 2, (o.name, same, shifted)
