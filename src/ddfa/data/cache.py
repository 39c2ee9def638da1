"""The training cache: 300-W (and optionally ytf68) faces, pseudo ground truth, profiled views and flips.

Our counterpart of 300W-LP. For every annotated face (300-W first, then the ytf68 video frames
when given, which get fewer views: ``ytf68_views``, since they are small and near-frontal):

1. **Pseudo ground truth**: the model is fitted to the 68 annotated points in the
   vertex frame of the training crop ``roi_from_landmarks(points)`` (one batched
   :class:`~ddfa.morphable.fit.LandmarkFitter` call for all faces); the fit error is kept.
2. **Profiling**: ``per_face`` views with target yaws stratified over 0-90 degrees
   (sign of the face's own yaw; the stratum holding the source yaw keeps the original
   image) and a small random pitch change, rendered by :mod:`ddfa.data.profile`
   straight into the 120 x 120 crop ``roi_from_landmarks`` of the new landmarks.
3. **Flips**: every view is also mirrored (:mod:`ddfa.data.flip`).

Each sample: ``images`` (120, 120, 3) uint8 RGB crop, ``params`` (62,) float32 in the
crop's vertex frame, ``points`` (68, 2) float32 crop pixels (projection of the params'
68 landmarks), ``yaw``/``pitch``/``roll`` float32 degrees, ``source`` int32 (row of
``fits.npz``), ``flipped`` bool.

Layout of a cache folder::

    meta.json             settings, counts and timings
    fits.npz              per source face: name, split, affine, params, error, yaw
    shards/NNNNN.npz      the samples of one source face (written atomically)
    {train,val}_{field}.npy   consolidated, memory-mappable arrays, sorted by source
    stats.npz             training-split parameter mean / std (``Normalizer.to_dict``)
    report.md, yaw_hist.png, samples.png

Everything is deterministic given the seed (each face has its own generator seeded
by the seed and its name), and a rerun skips faces whose shard exists. The split is
by source photo (a hash of its name; for ytf68, of the person, whichever folder the frame is in),
so no copy of a validation face or person is ever in train.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ddfa.atomic import atomic_path, atomic_write
from ddfa.data.flip import flip_sample, shape_mirror
from ddfa.data.profile import FaceProfiler, params_to_crop, params_to_image
from ddfa.data.readers import LandmarkedImage, person_of, read_300w, read_ytf68
from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.morphable import FaceModel, Normalizer, euler_from_pose_matrix, layout
from ddfa.morphable.calibrate import calibrate_to_annotations
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import CROP_SIZE, image_to_vertex, landmark_crop_affines, roi_from_landmarks

__all__ = [
    "BuildSettings", "BuildSummary", "SourceFits", "build_cache", "fit_sources", "source_of", "split_of", "view_plan",
    "render_views", "write_report", "FIELDS", "FIELD_SPEC", "SPLITS",
]

FIELD_SPEC = {
    "images": (np.uint8, (CROP_SIZE, CROP_SIZE, 3)), "params": (np.float32, (layout.N_PARAMS,)),
    "points": (np.float32, (68, 2)), "yaw": (np.float32, ()), "pitch": (np.float32, ()),
    "roll": (np.float32, ()), "source": (np.int32, ()), "flipped": (np.bool_, ()),
}
FIELDS = tuple(FIELD_SPEC)
SPLITS = ("train", "val")
FORMAT_VERSION = 1


def source_of(name: str) -> str:
    """The data source of a face name: 'ytf68' or '300w'."""
    return "ytf68" if name.startswith("ytf68") else "300w"


def split_of(name: str, val_fraction: float) -> str:
    """'val' or 'train' for a face name, decided by a hash of its *photo* (300-W: the name without a
    trailing ``_<k>`` face number) or *person* (ytf68), so all faces of one photo / person share a split."""
    h = int(hashlib.sha1(person_of(name).encode()).hexdigest()[:8], 16) / 2**32
    return "val" if h < val_fraction else "train"


@dataclass(frozen=True)
class BuildSettings:
    """What a cache is built from; a cache folder only resumes with the same settings.

    per_face: profiled views per source face (each is also flipped: 2 x per_face samples).
    val_fraction: expected fraction of source photos held out for validation.
    max_pitch: half-range (degrees) of the uniform random pitch change of each profiled view.
    """

    per_face: int = 14
    seed: int = 0
    val_fraction: float = 0.06
    max_pitch: float = 10.0

    def __post_init__(self):
        if self.per_face < 1:
            raise InputError(f"per_face must be >= 1, got {self.per_face}")
        if not 0 <= self.val_fraction < 1:
            raise InputError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")
        if not 0 <= self.max_pitch <= 45:
            raise InputError(f"max_pitch must lie in [0, 45] degrees, got {self.max_pitch}")


@dataclass(frozen=True)
class SourceFits:
    """Pseudo ground truth of B source faces.

    names (B,) str; splits (B,) 'train' | 'val'; image_paths (B,) str;
    affines (B, 2, 3) float64 image -> training crop; params (B, 62) float32 in that crop's
    vertex frame; error (B,) float32 fit error (fraction of the landmark box size);
    yaw (B,) float32 degrees.
    """

    names: np.ndarray
    splits: np.ndarray
    image_paths: np.ndarray
    affines: np.ndarray
    params: np.ndarray
    error: np.ndarray
    yaw: np.ndarray

    def params_image(self) -> np.ndarray:
        """(B, 62) float32 image-frame parameters."""
        return params_to_image(self.params, self.affines)

    def save(self, path: Path) -> None:
        _save_npz(path, **{k: np.asarray(v) for k, v in asdict(self).items()})

    @classmethod
    def load(cls, path: Path) -> "SourceFits":
        with np.load(path) as z:
            return cls(**{k: z[k] for k in z.files})


def fit_sources(items: list[LandmarkedImage], model: FaceModel, val_fraction: float,
                own_landmarks: tuple[str, ...] = ()) -> SourceFits:
    """Fit the model to all faces, each in the vertex frame of its training crop: one batched fit per
    data source (so adding a source leaves the fits of the others unchanged). Sources named in
    ``own_landmarks`` are fitted with landmark vertices calibrated to their own training faces'
    annotations (:func:`ddfa.morphable.calibrate.calibrate_to_annotations`) instead of ``model``'s."""
    if not items:
        raise InputError("no faces to fit")
    groups = np.array([source_of(it.name) for it in items])
    parts = {g: _fit_group([it for it, k in zip(items, groups) if k == g], model, val_fraction, g in own_landmarks)
             for g in dict.fromkeys(groups)}
    if len(parts) == 1:
        return next(iter(parts.values()))
    order = np.argsort(np.concatenate([np.flatnonzero(groups == g) for g in parts]), kind="stable")
    return SourceFits(**{f: np.concatenate([getattr(p, f) for p in parts.values()])[order]
                         for f in asdict(next(iter(parts.values())))})


def _fit_group(items: list[LandmarkedImage], model: FaceModel, val_fraction: float,
               own_landmarks: bool = False) -> SourceFits:
    points = np.stack([it.points for it in items])
    splits = np.array([split_of(it.name, val_fraction) for it in items])
    if own_landmarks:
        model = replace(model, landmarks=calibrate_to_annotations(model, points[splits == "train"]))
    affines = landmark_crop_affines(points)
    fit = LandmarkFitter(model).fit(image_to_vertex(points, affines))
    return SourceFits(
        names=np.array([it.name for it in items]),
        splits=splits,
        image_paths=np.array([str(it.image_path) for it in items]),
        affines=affines, params=fit.params, error=fit.error,
        yaw=euler_from_pose_matrix(layout.pose_matrix(fit.params))[:, 0].astype(np.float32),
    )


def view_plan(rng: np.random.Generator, yaw: float, k: int, max_pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (d_yaw (k,), d_pitch (k,)) in degrees for the views of a face of yaw ``yaw``.

    Target |yaw| values are stratified over [0, 90] (one uniform draw per stratum) and take
    the sign of the face's own yaw (random when it is within 1 degree of frontal), so that
    the face turns the way it already does. The stratum holding |yaw| keeps the original
    view (d_yaw = d_pitch = 0).
    """
    sign = np.sign(yaw) if abs(yaw) > 1.0 else rng.choice([-1.0, 1.0])
    target = (np.arange(k) + rng.random(k)) * (90.0 / k)
    d_yaw = sign * target - yaw
    d_pitch = rng.uniform(-max_pitch, max_pitch, k)
    own = min(int(abs(yaw) / 90.0 * k), k - 1)
    d_yaw[own] = d_pitch[own] = 0.0
    return d_yaw, d_pitch


def render_views(profiler: FaceProfiler, image: np.ndarray, params_image: np.ndarray,
                 d_yaw: np.ndarray, d_pitch: np.ndarray) -> dict[str, np.ndarray]:
    """Render the views of one face and their flips (view, flip, view, flip, ...).

    Returns the per-sample fields of :data:`FIELDS` except ``source`` (2 k samples).
    """
    model = profiler.model
    scene = profiler.scene(image, params_image)
    out = {k: [] for k in ("images", "params", "points", "flipped")}
    for dy, dp in zip(d_yaw, d_pitch):
        _, params = profiler.rotate(scene, dy, dp)
        pts = model.vertices(params[None], dense=False)[0]
        affine = roi_from_landmarks(pts).affine()
        view = profiler.render(scene, dy, dp, affine=affine, size=(CROP_SIZE, CROP_SIZE))
        crop_params = params_to_crop(view.params, affine)
        crop_pts = model.vertices(crop_params[None], dense=False)[0, :, :2]
        crop_pts[:, 1] = CROP_SIZE - 1 - crop_pts[:, 1]  # vertex frame -> crop pixels
        for flipped, (img, p, q) in enumerate([(view.image, crop_params, crop_pts),
                                                flip_sample(view.image, crop_params, crop_pts, model)]):
            out["images"].append(img)
            out["params"].append(p)
            out["points"].append(q)
            out["flipped"].append(bool(flipped))
    arrays = {k: np.stack(v) for k, v in out.items()}
    arrays["params"] = arrays["params"].astype(np.float32)
    arrays["points"] = arrays["points"].astype(np.float32)
    angles = euler_from_pose_matrix(layout.pose_matrix(arrays["params"])).astype(np.float32)
    arrays["yaw"], arrays["pitch"], arrays["roll"] = angles[:, 0], angles[:, 1], angles[:, 2]
    return arrays


# --- the builder ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildSummary:
    """Result of :func:`build_cache`: folder, sample counts per split, faces rendered in this
    run and skipped (already written), and the wall time of this run in seconds."""

    out: Path
    counts: dict
    rendered: int
    skipped: int
    seconds: float


_WORKER: dict = {}


def _init_worker(single_thread: bool = True) -> None:
    if single_thread:
        cv2.setNumThreads(1)
    _WORKER["profiler"] = FaceProfiler(FaceModel.load())


def _face_seed(seed: int, name: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(name.encode())])


def _render_face(task) -> tuple[int, int, float]:
    """Worker: render one source face and write its shard atomically."""
    index, name, path, params_image, yaw, views, settings, shard = task
    t0 = time.perf_counter()
    profiler = _WORKER["profiler"]
    rng = np.random.default_rng(_face_seed(settings.seed, name))
    d_yaw, d_pitch = view_plan(rng, yaw, views, settings.max_pitch)
    arrays = render_views(profiler, load_image(path), params_image, d_yaw, d_pitch)
    arrays["source"] = np.full(len(arrays["images"]), index, np.int32)
    _save_npz(Path(shard), **arrays)
    return index, len(arrays["images"]), time.perf_counter() - t0


def build_cache(out: str | os.PathLike, w300: str | os.PathLike, settings: BuildSettings = BuildSettings(),
                workers: int = 2, names: list[str] | None = None, progress: bool = True,
                ytf68: str | os.PathLike | None = None, ytf68_views: int = 4,
                ytf68_own_landmarks: bool = False) -> BuildSummary:
    """Build (or resume) a training cache in ``out`` from the 300-W folder ``w300`` and, when given,
    the ytf68 folder ``ytf68`` (its frames after the 300-W faces, ``ytf68_views`` views each, so the
    300-W shards are those of a 300-W-only cache with the same settings). With ``ytf68_own_landmarks`` its
    frames are fitted with landmark vertices calibrated to ytf68's training people (its annotations
    follow another definition than 300-W's, docs/evaluation.md), so their meshes are not bent to it.

    ``names`` restricts the sources to those faces (e.g. ``["afw/134212_1", "ytf68-test/Abdullah_Gul_11"]``);
    ``workers`` = 0 renders in this process. Raises :class:`InputError` when ``out``
    holds a cache built with other settings or sources.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if ytf68_views < 1:
        raise InputError(f"ytf68_views must be >= 1, got {ytf68_views}")
    items = read_300w(w300) + (read_ytf68(ytf68) if ytf68 is not None else [])
    if names is not None:
        by_name = {it.name: it for it in items}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InputError(f"faces not found: {', '.join(missing[:5])}")
        items = [by_name[n] for n in names]
    if not items:
        raise InputError(f"no annotated faces found in {w300}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)
    for stale in [*out.glob(".*.npy"), *out.glob(".*.npz"), *(out / "shards").glob(".*.npz")]:
        stale.unlink()  # temporary files of an interrupted run
    model = FaceModel.load()
    extra = {"ytf68_views": ytf68_views} if ytf68 is not None else {}
    if ytf68 is not None and ytf68_own_landmarks:
        extra["ytf68_landmarks"] = "own"
    fits = _prepare(out, items, model, settings, extra)

    todo = [i for i in range(len(items)) if not _shard(out, i).is_file()]
    params_image = fits.params_image()
    views = {"300w": settings.per_face, "ytf68": ytf68_views}
    tasks = [(i, str(fits.names[i]), str(fits.image_paths[i]), params_image[i], float(fits.yaw[i]),
              views[source_of(str(fits.names[i]))], settings, str(_shard(out, i))) for i in todo]
    times = _run(tasks, workers, progress)
    counts = _consolidate(out, fits) if todo or not _consolidated(out) else _read_meta(out)["counts"]
    meta = _read_meta(out)
    if times:
        meta["render_seconds_per_face"] = float(np.mean(times))
        meta["last_run_seconds"] = time.perf_counter() - t0
        meta["last_run_workers"], meta["cpus"] = workers, os.cpu_count()
    meta.update(counts=counts, complete=True)
    _write_json(out / "meta.json", meta)
    if todo or not (out / "report.md").is_file():
        write_report(out)
    return BuildSummary(out, counts, len(todo), len(items) - len(todo), time.perf_counter() - t0)


def _shard(out: Path, index: int) -> Path:
    return out / "shards" / f"{index:05d}.npz"


def _prepare(out: Path, items, model: FaceModel, settings: BuildSettings, extra: dict) -> SourceFits:
    """Check or write meta.json and fits.npz; returns the source fits."""
    names = [it.name for it in items]
    source_hash = hashlib.sha1("\n".join(names).encode()).hexdigest()
    meta = {"format": FORMAT_VERSION, "settings": asdict(settings), "sources": len(items),
            "source_hash": source_hash, **extra}
    if (out / "meta.json").is_file():
        old = _read_meta(out)
        if any(old.get(k) != v for k, v in meta.items()):
            raise InputError(f"{out} holds a cache built with other settings or sources "
                             f"({old.get('settings')}, {old.get('sources')} faces); use another --out or delete it")
        if (out / "fits.npz").is_file():
            return SourceFits.load(out / "fits.npz")
    t = time.perf_counter()
    fits = fit_sources(items, model, settings.val_fraction, ("ytf68",) if extra.get("ytf68_landmarks") else ())
    meta["fit_seconds"] = time.perf_counter() - t
    fits.save(out / "fits.npz")
    _write_json(out / "meta.json", meta)
    return fits


def _run(tasks, workers: int, progress: bool) -> list[float]:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), unit="face", desc="profiling", disable=not progress or not tasks)
    times = []
    if workers <= 0 or len(tasks) <= 1:
        if tasks and "profiler" not in _WORKER:
            _init_worker(single_thread=False)
        for _, _, sec in map(_render_face, tasks):
            times.append(sec)
            bar.update()
    else:
        # one BLAS / OpenMP thread per worker process: the workers are the parallelism
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        os.environ.update({k: "1" for k in saved})
        try:
            with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
                for _, _, sec in pool.imap_unordered(_render_face, tasks, chunksize=1):
                    times.append(sec)
                    bar.update()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    bar.close()
    return times


def _consolidate(out: Path, fits: SourceFits) -> dict:
    """Concatenate the shards into one memory-mappable .npy per split and field; write stats.npz."""
    counts = {}
    for split in SPLITS:
        ids = [i for i in range(len(fits.names)) if fits.splits[i] == split]
        sizes = []
        for i in ids:
            with np.load(_shard(out, i)) as z:
                sizes.append(len(z["yaw"]))
        total = int(sum(sizes))
        counts[split] = total
        tmp = {f: out / f".{split}_{f}.{uuid.uuid4().hex[:8]}.npy" for f in FIELDS}
        arrays = {f: np.lib.format.open_memmap(tmp[f], mode="w+", dtype=dt, shape=(total, *shape))
                  for f, (dt, shape) in FIELD_SPEC.items()}
        start = 0
        for i, n in zip(ids, sizes):
            with np.load(_shard(out, i)) as z:
                for f in FIELDS:
                    arrays[f][start:start + n] = z[f]
            start += n
        for f in FIELDS:
            arrays[f].flush()
            del arrays[f]
            os.replace(tmp[f], out / f"{split}_{f}.npy")
    params = np.load(out / "train_params.npy", mmap_mode="r")
    if len(params) == 0:
        raise InputError("the training split is empty; use more faces or a smaller val_fraction")
    _save_npz(out / "stats.npz", **Normalizer.fit(params).to_dict())
    return counts


def _consolidated(out: Path) -> bool:
    return all((out / f"{s}_{f}.npy").is_file() for s in SPLITS for f in FIELDS) and (out / "stats.npz").is_file()


# --- report --------------------------------------------------------------------------------
def write_report(out: str | os.PathLike) -> Path:
    """Write report.md, yaw_hist.png and samples.png into a consolidated cache folder."""
    from ddfa.render import draw_landmarks

    out = Path(out)
    meta = _read_meta(out)
    fits = SourceFits.load(out / "fits.npz")
    yaw = {s: np.load(out / f"{s}_yaw.npy") for s in SPLITS}
    hist = np.histogram(yaw["train"], bins=36, range=(-90, 90))[0]
    cv2.imwrite(str(out / "yaw_hist.png"), _bar_chart(hist, -90, 90, "training yaw (degrees)")[..., ::-1])

    images = np.load(out / "train_images.npy", mmap_mode="r")
    points = np.load(out / "train_points.npy", mmap_mode="r")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(images), size=min(24, len(images)), replace=False))
    pick = pick[np.argsort(np.abs(yaw["train"][pick]), kind="stable")]
    tiles = [draw_landmarks(np.ascontiguousarray(images[i]), points[i], lines=False, radius=1) for i in pick]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 8)
    grid = np.concatenate([np.concatenate(tiles[r:r + 8], 1) for r in range(0, len(tiles), 8)], 0)
    cv2.imwrite(str(out / "samples.png"), grid[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])

    err = fits.error * 100
    n_src = {s: int((fits.splits == s).sum()) for s in SPLITS}
    absy = np.abs(yaw["train"])
    mirror = shape_mirror(FaceModel.load())
    s = meta["settings"]
    lines = [
        "# Training cache report",
        "",
        f"Source faces: {meta['sources']} (train {n_src['train']}, val {n_src['val']} held out by photo).",
        f"Settings: {s['per_face']} profiled views per face, each also flipped; seed {s['seed']}; "
        f"pitch change uniform in ±{s['max_pitch']:g}°.",
        f"Samples: train {meta['counts']['train']}, val {meta['counts']['val']}.",
        "",
        *_source_table(out, fits, meta),
        "## Pseudo ground truth (landmark fitting in the training crop)",
        "",
        f"Fit error, % of the landmark box size: mean {err.mean():.2f}, median {np.median(err):.2f}, "
        f"90th pct {np.percentile(err, 90):.2f}, max {err.max():.2f} (fit time {meta.get('fit_seconds', 0):.1f} s).",
        f"Source |yaw|: mean {np.abs(fits.yaw).mean():.1f}°, 90th pct {np.percentile(np.abs(fits.yaw), 90):.1f}°, "
        f"max {np.abs(fits.yaw).max():.1f}°.",
        "",
        "## Training yaw",
        "",
        "| abs(yaw) | " + " | ".join(f"{a}-{a + 15}°" for a in range(0, 90, 15)) + " |",
        "|---|" + "---|" * 6,
        "| share | " + " | ".join(f"{100 * np.mean((absy >= a) & (absy < a + 15)):.1f}%" for a in range(0, 90, 15))
        + " |",
        "",
        "![yaw histogram](yaw_hist.png)",
        "",
        "## Flip",
        "",
        f"Shape-coefficient mirror map: relative residual {100 * mirror.residual:.2f}% of the basis; "
        f"mean-shape asymmetry at most {10 * mirror.mean_residual:.2f} mm.",
        "",
        "## Timing",
        "",
        f"Profiling: {meta.get('render_seconds_per_face', float('nan')):.2f} s per source face "
        f"({2 * s['per_face']} samples) in one worker; "
        f"last run {meta.get('last_run_seconds', float('nan')):.0f} s wall "
        f"with {meta.get('last_run_workers', '?')} worker processes on {meta.get('cpus', '?')} CPUs "
        "(fitting, profiling and consolidation).",
        "",
        "## Samples (training split, sorted by |yaw|)",
        "",
        "![samples](samples.png)",
        "",
    ]
    path = out / "report.md"
    atomic_write(path, "\n".join(lines).encode())
    return path


def _source_table(out: Path, fits: SourceFits, meta: dict) -> list[str]:
    """Report lines: one row per data source (faces and people per split, views, samples, fit error)."""
    kinds = np.array([source_of(str(n)) for n in fits.names])
    sample_kind = {s: kinds[np.load(out / f"{s}_source.npy")] for s in SPLITS}
    views = {"300w": meta["settings"]["per_face"], "ytf68": meta.get("ytf68_views")}
    lines = ["## Sources", "",
             "| source | faces train / val | photos or people train / val | views per face | samples train / val "
             "| fit error % mean / median / 90th |", "|---|---|---|---|---|---|"]
    for k in dict.fromkeys(kinds):
        m = kinds == k
        people = {sp: len({person_of(str(n)) for n in fits.names[m & (fits.splits == sp)]}) for sp in SPLITS}
        e = fits.error[m] * 100
        lines.append(
            f"| {k} | {int((m & (fits.splits == 'train')).sum())} / {int((m & (fits.splits == 'val')).sum())} "
            f"| {people['train']} / {people['val']} | {views[k]} (x2 flips) "
            f"| {int((sample_kind['train'] == k).sum())} / {int((sample_kind['val'] == k).sum())} "
            f"| {e.mean():.2f} / {np.median(e):.2f} / {np.percentile(e, 90):.2f} |")
    return [*lines, ""]


def _bar_chart(counts: np.ndarray, lo: float, hi: float, title: str) -> np.ndarray:
    """A small RGB bar chart (OpenCV) of histogram ``counts`` over [lo, hi]."""
    W, H, m = 640, 320, 40
    img = np.full((H, W, 3), 255, np.uint8)
    n = len(counts)
    top = max(int(counts.max()), 1)
    bw = (W - 2 * m) / n
    for i, c in enumerate(counts):
        x0, x1 = int(m + i * bw + 1), int(m + (i + 1) * bw - 1)
        y0 = int(H - m - (H - 2 * m) * c / top)
        cv2.rectangle(img, (x0, y0), (x1, H - m), (70, 110, 200), -1)
    cv2.line(img, (m, H - m), (W - m, H - m), (0, 0, 0), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for v in np.linspace(lo, hi, 7):
        x = int(m + (v - lo) / (hi - lo) * (W - 2 * m))
        cv2.line(img, (x, H - m), (x, H - m + 4), (0, 0, 0), 1)
        cv2.putText(img, f"{v:g}", (x - 10, H - m + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"{title}; max bin {top}", (m, 24), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return img


# --- small IO helpers -----------------------------------------------------------------------
def _save_npz(path: Path, **arrays) -> None:
    """np.savez to a temporary file in the same folder, then os.replace (atomic)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def _read_meta(out: Path) -> dict:
    return json.loads((out / "meta.json").read_text())


def _write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2).encode())
