"""Benchmark the numba rasteriser on the ICT face mesh against a numpy point splat.

Renders the ICT neutral face area (vertices [0, 9408], ~18.5k triangles) at a few
seeded random head poses, with per-vertex normals as a 3-channel attribute, and
prints a markdown table of the median milliseconds per frame after a warm-up
that absorbs the JIT compilation. The baseline splats the same vertices with a
z-ordered, vectorised numpy assignment (no triangles, so it leaves holes).

    python benchmarks/bench_render.py [--sizes 120 1000] [--repeats 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ddfa.render import rasterize, render_shaded, vertex_normals

ICT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ict-face-model" / "ict_face_model_light.npz"
FACE_VERTICES = 9409


def load_face() -> tuple[np.ndarray, np.ndarray]:
    """ICT neutral face area: float64 (9409, 3) vertices (cm, y up) and int32 (F, 3) triangles."""
    model = np.load(ICT)
    faces = model["faces"]
    faces = faces[(faces[:, :3] < FACE_VERTICES).all(1) & (faces[:, 3] < FACE_VERTICES)]
    quads = faces[faces[:, 3] >= 0]
    triangles = np.concatenate([faces[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.int32)
    return model["neutral"][:FACE_VERTICES].astype(np.float64), triangles


def random_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Rotation from yaw, pitch and roll drawn uniformly in [-max_deg, max_deg]."""
    yaw, pitch, roll = np.deg2rad(rng.uniform(-max_deg, max_deg, 3))
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def to_image(model: np.ndarray, rotation: np.ndarray, size: int, fill: float) -> np.ndarray:
    """Rotate the model and map it into a size x size image frame (y down), its height spanning ``fill``."""
    v = (model - model.mean(0)) @ rotation.T
    scale = fill * size / np.ptp(v[:, 1])
    out = np.empty_like(v)
    out[:, 0] = v[:, 0] * scale + (size - 1) / 2
    out[:, 1] = -v[:, 1] * scale + (size - 1) / 2
    out[:, 2] = v[:, 2] * scale
    return out.astype(np.float32)


def splat(vertices: np.ndarray, attributes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Baseline: z-ordered splat of each vertex into its nearest pixel (nearest written last)."""
    image = np.zeros((height, width, attributes.shape[1]), np.float32)
    px = np.rint(vertices[:, :2]).astype(np.intp)
    keep = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
    order = np.flatnonzero(keep)[np.argsort(vertices[keep, 2], kind="stable")]
    image[px[order, 1], px[order, 0]] = attributes[order]
    return image


def median_ms(fn, frames, warmup: int, repeats: int) -> float:
    for i in range(warmup):
        fn(*frames[i % len(frames)])
    times = []
    for i in range(repeats):
        args = frames[i % len(frames)]
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[120, 1000], help="square image sides in pixels")
    parser.add_argument("--fill", type=float, default=0.95, help="face height as a fraction of the image side")
    parser.add_argument("--poses", type=int, default=8, help="number of seeded random head poses")
    parser.add_argument("--max-deg", type=float, default=20.0, help="largest yaw/pitch/roll in degrees")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not ICT.exists():
        sys.exit(f"ICT face model not found at {ICT}: the shared data folder ../shared is missing")

    model, triangles = load_face()
    rng = np.random.default_rng(args.seed)
    rotations = [random_rotation(rng, args.max_deg) for _ in range(args.poses)]

    print(f"ICT face area: {len(model)} vertices, {len(triangles)} triangles; {args.poses} poses; "
          f"median of {args.repeats} runs after {args.warmup} warm-up runs; single thread\n")
    print("| image | face coverage | rasterize (ms) | render_shaded (ms) | numpy point splat (ms) | rasterize / splat |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        meshes = [to_image(model, r, size, args.fill) for r in rotations]
        normals = [vertex_normals(v, triangles) for v in meshes]
        background = np.zeros((size, size, 3), np.uint8)
        coverage = np.mean([rasterize(v, triangles, n, size, size).mask.mean() for v, n in zip(meshes, normals)])
        frames = list(zip(meshes, normals))
        raster_ms = median_ms(lambda v, n: rasterize(v, triangles, n, size, size), frames, args.warmup, args.repeats)
        shaded_ms = median_ms(lambda v, n: render_shaded(background, v, triangles), frames, args.warmup, args.repeats)
        splat_ms = median_ms(lambda v, n: splat(v, n, size, size), frames, args.warmup, args.repeats)
        print(f"| {size}x{size} | {coverage:.0%} | {raster_ms:.2f} | {shaded_ms:.2f} | {splat_ms:.2f} "
              f"| {raster_ms / splat_ms:.1f}x |")


if __name__ == "__main__":
    main()
