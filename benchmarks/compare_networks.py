"""Compare candidate networks on every check of issue 17, in one run.

    python benchmarks/compare_networks.py NAME=WEIGHTS [NAME=WEIGHTS ...] [--cache ../cache_ytf]
        [--n 0] [--upright] [--stability] [--held-clips 97] [--no-aflw] [--scan OBJ] [--threads 1]

For each candidate (a ``.pt`` regressor checkpoint, run by torch, or an ``.onnx`` graph such as an int8
one from ``ddfa export onnx --int8``, run by ONNX Runtime):

- **held-out 300-W** and **held-out ytf68**: 68-point NME (% of the ground-truth box) on the cache's
  validation split (``ddfa data build --ytf68``: 300-W photos and ytf68 people never trained on), per source;
- **low-res + JPEG**: the held-out 300-W crops downscaled 2-4x and JPEG-compressed at quality 20-50;
- **occluded**: the held-out 300-W crops with one synthetic occluder each (``ddfa.data.occlusion``);
- **AFLW2000-3D exact / aligned** (mean of the yaw bins; original GT, ground-truth 68-point boxes, as
  ``ddfa eval aflw2000``) and, with ``--stability``, **clip NME / stability** on the 199 exact clips of 8
  frames with out-of-plane moves (as ``ddfa eval stability``). AFLW2000-3D is measured, never used to choose: choose by the held-out columns;
- with ``--held-clips N``, **held clip NME / held stability**: the same clips made from the held-out faces
  themselves (up to N photos of held-out 300-W faces and N frames of held-out ytf68 people, evenly spaced,
  with their annotated points): a stability check that may be used to choose;
- **scan views**: 68-point NME (% of the ground-truth box) on 81 renders of menpo3d's textured scan
  (``../shared/data/media/scan3d``; yaw -60..60, pitch and roll -20..20 degrees, ``ddfa.eval.scan_views``): real
  3D geometry at known poses, one person; it may be used to choose;
- **ms/face**: the ONNX graph at batch 1 on ``--threads`` threads, candidates interleaved, as a ratio to
  the first candidate.

Degradations are seeded per crop, so every candidate sees the same images. The budget (crops per
column, the clip settings, and each checkpoint's training step when it records one) is printed with
the table. Choose on ``held mean`` = (held-out 300-W + held-out ytf68) / 2.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ddfa.data.augment import Appearance, apply_appearance
from ddfa.data.cache import SourceFits, source_of
from ddfa.data.occlusion import apply_occluder, random_occluder
from ddfa.eval.scan_views import DEFAULT_SCAN
from ddfa.morphable import FaceModel
from ddfa.pipeline.regressor import OnnxRegressor, TorchRegressor, export_regressor_onnx


def nme(model: FaceModel, pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean 68-point NME (%) of (B, 62) crop-frame params, normalised by the GT landmark box."""
    p, g = model.vertices(pred, dense=False)[..., :2], model.vertices(gt, dense=False)[..., :2]
    size = np.sqrt(np.prod(g.max(1) - g.min(1), -1))
    return float((np.linalg.norm(p - g, axis=-1).mean(1) / size).mean() * 100)


def held_out(cache: Path, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validation crops and params per source ('300w', 'ytf68'), every k-th sample when ``n`` caps them."""
    fits = SourceFits.load(cache / "fits.npz")
    kind = np.array([source_of(str(s)) for s in fits.names])[np.load(cache / "val_source.npy")]
    images = np.load(cache / "val_images.npy", mmap_mode="r")
    params = np.load(cache / "val_params.npy", mmap_mode="r")
    out = {}
    for k in ("300w", "ytf68"):
        idx = np.flatnonzero(kind == k)
        if n and len(idx) > n:
            idx = idx[np.linspace(0, len(idx) - 1, n).round().astype(int)]
        if len(idx):
            out[k] = (np.asarray(images[idx]), np.asarray(params[idx]))
    return out


def split_faces(cache: Path, shared: Path, split: str) -> dict[str, list]:
    """The annotated faces of the cache's ``split`` ("train" or "val": by photo or person) per source ("300w",
    "ytf68", where its folder exists): ``ddfa.data.readers.LandmarkedImage`` with their 68 annotated points."""
    import json

    from ddfa.data.cache import split_of
    from ddfa.data.readers import read_300w, read_ytf68

    fraction = json.loads((cache / "meta.json").read_text())["settings"]["val_fraction"]
    return {folder: [it for it in reader(shared / folder) if split_of(it.name, fraction) == split]
            for reader, folder in ((read_300w, "300w"), (read_ytf68, "ytf68")) if (shared / folder).is_dir()}


def held_out_faces(cache: Path, shared: Path, n: int) -> list:
    """Up to ``n`` held-out annotated faces per source (the cache's validation split, by photo or person),
    evenly spaced."""
    out = []
    for items in split_faces(cache, shared, "val").values():
        out += [items[i] for i in np.unique(np.linspace(0, len(items) - 1, min(n, len(items))).round().astype(int))]
    return out


def low_res_jpeg(crops: np.ndarray, seed: int = 0) -> np.ndarray:
    looks = []
    for i, c in enumerate(crops):
        rng = np.random.default_rng([seed, i])
        look = Appearance(gain=(1.0, 1.0, 1.0), contrast=1.0, saturation=1.0, gamma=1.0,
                          downscale=float(rng.uniform(2, 4)), jpeg=int(rng.integers(20, 51)))
        looks.append(apply_appearance(c, look))
    return np.stack(looks)


def occluded(crops: np.ndarray, seed: int = 0) -> np.ndarray:
    return np.stack([apply_occluder(c, random_occluder(np.random.default_rng([seed, i]), c))
                     for i, c in enumerate(crops)])


def onnx_ms(paths: dict[str, Path], crops: np.ndarray, threads: int, rounds: int = 5) -> dict[str, float]:
    """Median ms per face at batch 1, candidates interleaved round by round (the machine is noisy)."""
    regs = {k: OnnxRegressor(p, threads=threads) for k, p in paths.items()}
    times = {k: [] for k in regs}
    for _ in range(rounds):
        for k, reg in regs.items():
            reg(crops[:1])
            t = time.perf_counter()
            for c in crops:
                reg(c[None])
            times[k].append((time.perf_counter() - t) * 1000 / len(crops))
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+", metavar="NAME=WEIGHTS", help="candidate .pt or .onnx files; the first is the baseline")
    ap.add_argument("--cache", type=Path, default=Path("../cache_ytf"), help="a cache built with --ytf68")
    ap.add_argument("--n", type=int, default=0, help="cap on held-out crops per source (0: all)")
    ap.add_argument("--aflw", type=Path, default=Path("../shared/data/aflw2000-3d"))
    ap.add_argument("--no-aflw", action="store_true",
                    help="read nothing from AFLW2000-3D (neither its NME nor its clips, whatever --stability says)")
    ap.add_argument("--stability", action="store_true", help="also score the 199 exact AFLW2000-3D clips")
    ap.add_argument("--held-clips", type=int, default=0, metavar="N",
                    help="also score clips made from up to N held-out faces per source (0: off)")
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"), help="where 300w/ and ytf68/ are")
    ap.add_argument("--scan", type=Path, default=DEFAULT_SCAN,
                    help="textured scan (.obj) for the 'scan views' column (skipped when missing)")
    ap.add_argument("--upright", action="store_true", help="AFLW2000-3D, clips and scan views with the upright pass")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    cands = {}
    for c in args.candidates:
        name, sep, path = c.partition("=")
        if not sep or not Path(path).is_file():
            raise SystemExit(f"expected NAME=WEIGHTS with an existing file, got {c!r}")
        cands[name] = Path(path)
    model = FaceModel.load()
    held = held_out(args.cache, args.n)
    sets = {f"held {k}": v for k, v in held.items()}
    if "300w" in held:
        crops, gt = held["300w"]
        sets["low-res+JPEG"] = (low_res_jpeg(crops), gt)
        sets["occluded"] = (occluded(crops), gt)
    cols = list(sets)
    rows = {name: {} for name in cands}
    steps = {}
    for name, path in cands.items():
        if path.suffix.lower() == ".onnx":
            reg, steps[name] = OnnxRegressor(path, threads=args.threads), None
        else:
            reg = TorchRegressor(path, threads=args.threads)
            cfg = reg._regressor.meta.get("config", {})
            steps[name] = f"{cfg['time_budget']:.0f} s" if cfg.get("time_budget") else cfg.get("max_steps")  # a budget sizes the steps
        for col, (crops, gt) in sets.items():
            pred = np.concatenate([reg(crops[s:s + 128]) for s in range(0, len(crops), 128)])
            rows[name][col] = nme(model, pred, gt)
        if "held 300w" in rows[name] and "held ytf68" in rows[name]:
            rows[name]["held mean"] = (rows[name]["held 300w"] + rows[name]["held ytf68"]) / 2
    if "held ytf68" in cols:
        cols.insert(2, "held mean")

    from ddfa.eval.predictors import make_predictor

    predictors = {name: make_predictor("network", model, weights=path, upright=args.upright)
                  for name, path in cands.items()}  # landmark predictors for the clip, scan and AFLW columns
    faces = []
    if args.held_clips:
        from ddfa.eval.out_of_plane import ProfilingMoves
        from ddfa.eval.stability import evaluate_stability
        from ddfa.io import load_image

        faces = held_out_faces(args.cache, args.shared, args.held_clips)
        for name, pred in predictors.items():
            st = evaluate_stability(pred, (load_image(f.image_path) for f in faces),
                                    np.stack([f.points for f in faces]), name=name, progress=False,
                                    out_of_plane=ProfilingMoves())
            rows[name]["held clip NME"], rows[name]["held stability"] = st.nme, st.stability
        cols += ["held clip NME", "held stability"]

    if args.scan.is_file():
        from ddfa.eval.scan_views import evaluate_scan_views, load_scan, render_scan_views

        views = render_scan_views(load_scan(args.scan))
        for name, pred in predictors.items():
            rows[name]["scan views"] = evaluate_scan_views(pred, views).mean
        cols.append("scan views")

    if not args.no_aflw:
        from ddfa.eval.aflw2000 import evaluate_aflw2000, load_aflw2000
        from ddfa.eval.out_of_plane import ProfilingMoves
        from ddfa.eval.stability import evaluate_stability_aflw2000

        data = load_aflw2000(args.aflw)
        for name, pred in predictors.items():
            rep = evaluate_aflw2000(pred, data, name=name, progress=False)
            rows[name]["AFLW exact"] = rep.nme["exact"].mean_of_bins
            rows[name]["AFLW aligned"] = rep.nme["aligned"].mean_of_bins
            if args.stability:
                st = evaluate_stability_aflw2000(pred, data, name=name, progress=False, out_of_plane=ProfilingMoves())
                rows[name]["clip NME"], rows[name]["stability"] = st.nme, st.stability
        cols += [c for c in ("AFLW exact", "AFLW aligned", "clip NME", "stability") if c in rows[name]]

    with tempfile.TemporaryDirectory() as tmp:
        onnx = {name: path if path.suffix.lower() == ".onnx"
                else export_regressor_onnx(path, Path(tmp) / f"{i}.onnx", verify=False)
                for i, (name, path) in enumerate(cands.items())}
        ms = onnx_ms(onnx, sets[next(iter(sets))][0][:64], args.threads)
    first = next(iter(cands))

    print(f"Held-out crops: " + ", ".join(f"{k} {len(v[0])}" for k, v in sets.items())
          + f" (cache {args.cache})" + (f", {len(faces)} held-out clips (8 frames, out-of-plane moves)" if faces else "")
          + "; AFLW2000-3D: ground-truth boxes, mean of yaw bins"
          + (", upright pass" if args.upright else "") + "; ONNX at batch 1 on "
          + f"{args.threads} thread(s), ratio to '{first}'. Training budget (the time budget, which sizes the steps, else max_steps, "
          + "of each checkpoint's config): " + ", ".join(f"{k} {v if v else '?'}" for k, v in steps.items()) + ".\n")
    print("| candidate | " + " | ".join(cols) + " | ms/face vs first |")
    print("|---" * (len(cols) + 2) + "|")
    for name in cands:
        print(f"| {name} | " + " | ".join(f"{rows[name][c]:.2f}" for c in cols)
              + f" | {ms[name] / ms[first]:.2f}x |")


if __name__ == "__main__":
    main()
