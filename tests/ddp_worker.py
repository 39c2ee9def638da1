"""Run by tests/test_train.py under torchrun (or alone): trains a few steps on fitted 300-W faces."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import SHARED  # noqa: E402
from test_train import FittedFaces  # noqa: E402

from ddfa.data.readers import read_300w  # noqa: E402
from ddfa.morphable import FaceModel, Normalizer  # noqa: E402
from ddfa.train.config import AugmentConfig, TrainConfig  # noqa: E402
from ddfa.train.trainer import Trainer  # noqa: E402

if __name__ == "__main__":
    out, loss = sys.argv[1], sys.argv[2]
    faces = FittedFaces(read_300w(SHARED / "300w")[::25][:16], FaceModel.load())
    cfg = TrainConfig(cache="", out=out, width=0.25, batch_size=8, max_steps=4, threads=1, workers=0,
                      warmup_steps=1, loss=loss, meta_k=2, lrr=True, freeze_bn=True, lr=1e-3,
                      augment=AugmentConfig(clip_len=2, step_yaw=0, step_pitch=0))
    with Trainer(cfg, faces, None, Normalizer.fit(faces.params)) as trainer:
        trainer.fit(show_progress=False)
