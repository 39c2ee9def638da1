"""``ddfa train``: train a regressor from a TOML config (see configs/)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a regressor on a dataset cache",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  ddfa train --config configs/mb05_meta_joint.toml\n"
        "  ddfa train --config configs/mb1_meta_joint.toml --max-steps 2000 --out runs/mb1\n"
        "  ddfa train --config configs/mb1_meta_joint_stage8.toml --stop-after 100   # pause; rerun to resume\n"
        "  torchrun --nproc_per_node 2 -m ddfa.cli.main train --config configs/mb1_meta_joint.toml",
    )
    p.add_argument("--config", type=Path, required=True, help="TOML file with the TrainConfig settings")
    p.add_argument("--cache", help="override the config's dataset cache folder")
    p.add_argument("--out", help="override the config's output folder")
    p.add_argument("--max-steps", type=int, dest="max_steps", help="override the step budget")
    p.add_argument("--stop-after", type=int, default=0, metavar="STEP",
                   help="pause at this step (the schedule still spans the full budget); run again to resume")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT/last.pt exists")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override a top-level setting (value in TOML syntax; a bare word is a string), "
                   "e.g. --set device=cpu --set time_budget=300; repeatable")
    p.set_defaults(run=_run)


def _run(args) -> int:
    from ddfa.nets.checkpoint import checkpoint_normalizer
    from ddfa.train.config import TrainConfig
    from ddfa.train.sources import CacheSource, cache_normalizer, profiling_step
    from ddfa.train.trainer import Trainer

    overrides = _settings(args.settings)
    overrides.update((k, v) for k, v in (("cache", args.cache), ("out", args.out), ("max_steps", args.max_steps))
                     if v is not None)
    cfg = TrainConfig.from_toml(args.config, **overrides)
    aug = cfg.augment
    hook = profiling_step if aug.video and (aug.step_yaw > 0 or aug.step_pitch > 0) else None
    # a warm start keeps the statistics its output layer was trained for, whatever cache it continues on
    normalizer = checkpoint_normalizer(cfg.init_from) if cfg.init_from else cache_normalizer(cfg.cache)
    with Trainer(cfg, CacheSource(cfg.cache, "train"), CacheSource(cfg.cache, "val"), normalizer,
                 out_of_plane=hook) as trainer:
        if not args.no_resume and trainer.resume():
            print(f"resuming from {trainer.out / 'last.pt'} at step {trainer.step}")
        result = trainer.fit(stop_after=args.stop_after)
    if result is not None and trainer.rank == 0:
        print(f"validation NME {result.nme:.2f} %  (best {trainer.best:.2f} %), weights in {trainer.out}")
    return 0


def _settings(items: list[str]) -> dict:
    """``["key=value", ...]`` -> {key: TOML value, or the bare text as a string}."""
    import tomllib

    from ddfa.errors import InputError

    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out
