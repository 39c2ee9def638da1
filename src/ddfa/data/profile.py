"""3D face profiling: synthesise new head poses of a face image.

The idea follows Zhu et al., "Face Alignment Across Large Poses: A 3D Solution"
(CVPR 2016); the implementation is our own. A face image and its fitted
parameters become a textured 3D scene of two meshes:

- the **face**: the dense model mesh in the image frame, its eye and mouth holes
  closed by ring patches. Where all three vertices of a triangle are visible in the
  source (z-buffer test) it is textured from the image at full resolution; hidden
  vertices carry the colour of their mirror twin when that is visible, else a colour
  diffused (Laplace) over the mesh from the known ones.
- the **surroundings** (hair, ears, neck, background): a regular grid over the
  whole image, textured from it. Its depth is the harmonic (Laplace) interpolation
  between the face silhouette (the face's depth there) and a background plane
  behind the head on the image border; under the face it is a membrane across the
  silhouette, kept behind the face surface.

A new view rotates the scene about an axis through the head centre and re-renders
it with the z-buffer. The face rotates rigidly, and so do its parameters:
``T' = Rd T`` (about the centre). A rigid rotation of the whole image would squash
the background into a line at 90 degrees, so each grid vertex turns by a fraction
``w`` of the angle, with ``w`` = 1 on the face, harmonic outside and 0 on the image
border: the border stays put and every output pixel stays covered. Disoccluded
background is stretched from its neighbours, as in 300W-LP.

Frames: images and vertices follow :mod:`ddfa.morphable.frames`. "Image-frame
parameters" are 62-d vectors whose ``T [S; 1]`` lands directly in the image frame
(x right, y **down**, z towards the viewer, pixels); convert from and to a crop's
vertex frame with :func:`params_to_image` and :func:`params_to_crop`.
Angles are in degrees with the conventions of :mod:`ddfa.morphable.pose`:
``d_yaw`` > 0 turns the nose towards the image right, ``d_pitch`` > 0 tilts the face up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from ddfa._optional import require

require("scipy", "face profiling")
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ddfa.errors import InputError
from ddfa.morphable import FaceModel, layout
from ddfa.morphable.frames import CROP_SIZE
from ddfa.morphable.pose import decompose, euler_from_rotation, rotation_from_euler
from ddfa.render import rasterize

__all__ = [
    "FaceProfiler", "ProfileScene", "ProfileView", "profile", "params_to_image", "params_to_crop",
    "transform_params", "scene_rotation",
]

_FLIP_Y = np.diag([1.0, -1.0, 1.0])


# --- parameter frames -------------------------------------------------------------------
def transform_params(params: np.ndarray, Q: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Move parameters by the 3D affine map ``x -> Q x + q``: ``T' = [Q M | Q t + q]``.

    params (..., 62), Q (..., 3, 3), q (..., 3) -> (..., 62) float32. Shape coefficients are unchanged.
    """
    params = np.asarray(params, dtype=np.float64)
    T = layout.pose_matrix(params)
    Q, q = np.asarray(Q, dtype=np.float64), np.asarray(q, dtype=np.float64)
    T2 = np.concatenate([Q @ T[..., :3], (Q @ T[..., 3:]) + q[..., :, None]], -1)
    return layout.join(T2, layout.shape_coeffs(params)).astype(np.float32)


def _vertex_map(affine: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(..., 2, 3) axis-aligned crop affines -> (G, g) with ``vertex = G image + g``."""
    A = np.asarray(affine, dtype=np.float64)
    if A.shape[-2:] != (2, 3):
        raise InputError(f"crop affine must have shape (..., 2, 3), got {A.shape}")
    k = A[..., 0, 0]
    if not (np.all(k > 0) and np.allclose(A[..., 1, 1], k) and np.allclose(A[..., 0, 1], 0)
            and np.allclose(A[..., 1, 0], 0)):
        raise InputError("crop affine must be a positive scale plus a shift (see ddfa.morphable.frames.Roi)")
    G = k[..., None, None] * np.diag([1.0, -1.0, 1.0])
    g = np.stack([A[..., 0, 2], size - 1 - A[..., 1, 2], np.zeros_like(k)], -1)
    return G, g


def params_to_image(params: np.ndarray, affine: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Crop vertex-frame parameters (..., 62) and the crop's affine (..., 2, 3) -> image-frame parameters."""
    G, g = _vertex_map(affine, size)
    Gi = np.linalg.inv(G)
    return transform_params(params, Gi, -(Gi @ g[..., None])[..., 0])


def params_to_crop(params: np.ndarray, affine: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Image-frame parameters (..., 62) -> the vertex frame of the crop with affine (..., 2, 3)."""
    G, g = _vertex_map(affine, size)
    return transform_params(params, G, g)


def scene_rotation(params_image: np.ndarray, d_yaw: float, d_pitch: float = 0.0) -> np.ndarray:
    """The rotation (3, 3), in the image frame, that adds ``d_yaw`` and ``d_pitch`` to a face's Euler angles.

    With ``R = Rx(p) Ry(y) Rz(r)`` (the face's rotation in a y-up frame) the result is
    ``Rx(p + dp) Ry(dy) Rx(-p)``, i.e. yaw about the head's own pitched vertical axis,
    so that yaw and pitch read back exactly (away from |yaw| = 90).
    """
    T = layout.pose_matrix(np.asarray(params_image, dtype=np.float64))
    _, R, _ = decompose(_FLIP_Y @ T)  # the y-up (vertex-frame) rotation
    pitch = euler_from_rotation(R)[1]
    Rd = rotation_from_euler(0.0, pitch + d_pitch, 0.0) @ rotation_from_euler(d_yaw, 0.0, 0.0) \
        @ rotation_from_euler(0.0, -pitch, 0.0)
    return _FLIP_Y @ Rd @ _FLIP_Y


# --- scene ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileScene:
    """A textured 3D scene of one face image, ready to be re-rendered at new poses.

    image: (H, W, 3) uint8 RGB source.
    params: (62,) float32 image-frame parameters of the face.
    vertices: (V, 3) float32 image-frame positions; rows ``[:n_face]`` are the face mesh, the rest the grid.
    triangles: (F, 3) int32.
    attributes: (V, 6) float32 per vertex: source x, y (image pixels), ``direct`` (1 where the
        source pixel under the vertex shows it, else 0) and a fallback RGB colour (0..255).
    follow: (V,) float32 fraction of the rotation each vertex follows (1 on the face, 0 on the image border).
    centre: (3,) float64 image-frame centre of rotation (inside the head).
    visible: (n_face,) bool face vertices visible in the source.
    """

    image: np.ndarray
    params: np.ndarray
    vertices: np.ndarray
    triangles: np.ndarray
    attributes: np.ndarray
    follow: np.ndarray
    centre: np.ndarray
    visible: np.ndarray
    n_face: int


@dataclass(frozen=True)
class ProfileView:
    """A rendered view. image (h, w, 3) uint8; params (62,) float32 image-frame parameters of the
    rotated face (not of the output crop); rotation (3, 3) the image-frame scene rotation applied."""

    image: np.ndarray
    params: np.ndarray
    rotation: np.ndarray


class FaceProfiler:
    """Builds :class:`ProfileScene` objects and renders them at new poses.

    Args:
        model: the face model whose parameters the scenes use.
        grid_step: spacing in source pixels of the surroundings grid.
        background_depth: distance in centimetres (model units) of the background plane
            behind the rotation centre.
        margin: how far (cm) the grid stays behind the face surface inside its silhouette;
            also the depth tolerance of the visibility test (3 x margin for occluders).
    """

    def __init__(self, model: FaceModel, grid_step: int = 4, background_depth: float = 12.0, margin: float = 0.6):
        if grid_step < 1:
            raise InputError(f"grid_step must be >= 1 pixel, got {grid_step}")
        self.model = model
        self.grid_step = int(grid_step)
        self.background_depth = float(background_depth)
        self.margin = float(margin)
        mean = model.mean.astype(np.float64)
        self.mesh = _ClosedMesh.build(model)
        # centre of rotation: on the mid-sagittal plane, at the landmarks' height and the
        # depth of the mesh's outer rim (ears, temples, neck): the head's vertical axis
        self.centre_model = np.array([0.0, mean[model.landmarks, 1].mean(), mean[self.mesh.rim, 2].mean()])

    # scene ---------------------------------------------------------------------------
    def scene(self, image: np.ndarray, params_image: np.ndarray) -> ProfileScene:
        """image (H, W, 3) uint8 RGB and its face's image-frame parameters (62,) -> a scene."""
        image = _check_image(image)
        params_image = np.asarray(params_image, dtype=np.float32)
        if params_image.shape != (layout.N_PARAMS,) or not np.all(np.isfinite(params_image)):
            raise InputError(f"params must be a finite ({layout.N_PARAMS},) vector, got shape {params_image.shape}")
        H, W = image.shape[:2]
        T = layout.pose_matrix(params_image.astype(np.float64))
        scale = np.linalg.svd(T[:, :3], compute_uv=False).mean()
        if not scale > 0:
            raise InputError("params have a degenerate pose (zero scale)")
        centre = T[:, :3] @ self.centre_model + T[:, 3]
        z_bg = centre[2] - self.background_depth * scale

        face = self.model.vertices(params_image[None])[0]
        face = np.concatenate([face, self.mesh.extra @ face])
        tris = self.mesh.triangles
        r = rasterize(face, tris, np.zeros((len(face), 1), np.float32), H, W)
        visible = _visible(face, r.depth, tol=self.margin * scale, occluder=3 * self.margin * scale)
        colour = _bilinear(image, face[:, :2])
        # hidden vertices: the mirror twin's colour, else diffused over the mesh from the known ones
        twin = self.mesh.symmetry
        known = visible | visible[twin]
        fallback = np.where(visible[:, None], colour, colour[twin])
        if known.any():
            fallback = _harmonic(self.mesh.laplacian, fallback, known)
        else:
            fallback[:] = image.reshape(-1, 3).mean(0)
        face_attr = np.concatenate([face[:, :2], visible[:, None], fallback], 1)

        gx, gy = _grid_axis(W, self.grid_step), _grid_axis(H, self.grid_step)
        iy, ix = np.meshgrid(gy, gx, indexing="ij")
        node_depth = r.depth[iy, ix].astype(np.float64)
        inside = np.isfinite(node_depth)
        behind = np.where(inside, node_depth - self.margin * scale, np.inf)
        # Dirichlet nodes: the face silhouette (its depth, full rotation) and the image border
        # (background plane, no rotation); elsewhere, also under the face, harmonic
        edge = inside & ~_eroded(inside)
        border = np.zeros_like(inside)
        border[[0, -1], :] = border[:, [0, -1]] = True
        known = edge | border
        z0 = np.where(inside, behind, z_bg)
        z, w = _harmonic(_grid_laplacian(*known.shape), np.stack([z0, edge & ~border], -1).reshape(-1, 2),
                         known.ravel()).T
        z = np.minimum(z, behind.ravel())  # under the face: a membrane across the silhouette, kept behind it
        gv = np.stack([ix.ravel(), iy.ravel(), z], -1)
        g_attr = np.concatenate([gv[:, :2], np.ones((len(gv), 1)), _bilinear(image, gv[:, :2])], 1)

        return ProfileScene(
            image=image, params=params_image,
            vertices=np.concatenate([face, gv]).astype(np.float32),
            triangles=np.concatenate([tris, _grid_triangles(len(gy), len(gx)) + len(face)]).astype(np.int32),
            attributes=np.concatenate([face_attr, g_attr]).astype(np.float32),
            follow=np.concatenate([np.ones(len(face)), w]).astype(np.float32),
            centre=centre, visible=visible, n_face=len(face),
        )

    # views ---------------------------------------------------------------------------
    @staticmethod
    def rotate(scene: ProfileScene, d_yaw: float, d_pitch: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The image-frame scene rotation Rd (3, 3) for (d_yaw, d_pitch) degrees and the turned
        face's image-frame parameters (62,) float32: ``T' = [Rd M | Rd (t - c) + c]``."""
        Rd = scene_rotation(scene.params, d_yaw, d_pitch)
        return Rd, transform_params(scene.params, Rd, scene.centre - Rd @ scene.centre)

    def render(self, scene: ProfileScene, d_yaw: float, d_pitch: float = 0.0,
               affine: np.ndarray | None = None, size: tuple[int, int] | None = None) -> ProfileView:
        """Rotate the scene by (d_yaw, d_pitch) degrees and render it.

        By default the output has the source's size and frame. ``affine`` (2, 3), an
        axis-aligned scale + shift from image pixels to output pixels (e.g. ``Roi.affine()``),
        and ``size`` (h, w) render straight into a crop, sampling the texture at the
        output's resolution. The returned params stay in the source image frame.
        """
        H, W = scene.image.shape[:2]
        A = np.array([[1.0, 0, 0], [0, 1.0, 0]]) if affine is None else np.asarray(affine, dtype=np.float64)
        _vertex_map(A, 1)  # validates the affine
        h, w = (H, W) if size is None else (int(size[0]), int(size[1]))
        Rd, params = self.rotate(scene, d_yaw, d_pitch)
        verts = _twist(scene.vertices.astype(np.float64), scene.follow, Rd, scene.centre)
        k = A[0, 0]
        out = np.empty_like(verts)
        out[:, :2] = verts[:, :2] * k + A[:, 2]
        out[:, 2] = verts[:, 2] * k
        r = rasterize(out, scene.triangles, scene.attributes, h, w)
        # uncovered pixels (outside the source image) read the source there, edge-replicated
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        src_x = np.where(r.mask, r.image[..., 0], (xs - A[0, 2]) / k)
        src_y = np.where(r.mask, r.image[..., 1], (ys - A[1, 2]) / k)
        direct = np.where(r.mask, r.image[..., 2], 1.0)[..., None]
        tex, f = _prefiltered(scene.image, k)
        mx, my = (((v + 0.5) * f - 0.5).astype(np.float32) for v in (src_x, src_y))
        sampled = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = direct * sampled.astype(np.float32) + (1.0 - direct) * r.image[..., 3:]
        return ProfileView(np.clip(img + 0.5, 0, 255).astype(np.uint8), params, Rd)


@lru_cache(maxsize=1)
def default_profiler() -> FaceProfiler:
    """A :class:`FaceProfiler` of the bundled face model (cached)."""
    return FaceProfiler(FaceModel.load())


def profile(image: np.ndarray, params_image: np.ndarray, d_yaw: float,
            d_pitch: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Re-render a face image with its head turned by ``d_yaw`` / ``d_pitch`` degrees.

    image (H, W, 3) uint8 RGB; params_image (62,) image-frame parameters (see
    :func:`params_to_image`). Returns the new image (H, W, 3) uint8 and the new
    image-frame parameters (62,) float32. For several views of one face build the
    scene once with :meth:`FaceProfiler.scene` and call :meth:`FaceProfiler.render`.
    """
    p = default_profiler()
    v = p.render(p.scene(image, params_image), d_yaw, d_pitch)
    return v.image, v.params


# --- helpers -------------------------------------------------------------------------------
def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 2:
        raise InputError(f"image is too small: {image.shape[1]}x{image.shape[0]}")
    return np.ascontiguousarray(image)


def _boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """The boundary of a manifold mesh as ordered vertex-id loops (edges used by one triangle)."""
    e = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    _, inv, count = np.unique(np.sort(e, 1), axis=0, return_inverse=True, return_counts=True)
    nxt = dict(e[count[inv.ravel()] == 1].tolist())
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop = [start]
        while (v := nxt[loop[-1]]) != start:
            loop.append(v)
        seen.update(loop)
        loops.append(np.array(loop))
    return loops


@dataclass(frozen=True)
class _ClosedMesh:
    """The model mesh with its holes (eyes, mouth) closed by ring patches.

    extra: (E, N) sparse; the E patch vertices are ``extra @ vertices``.
    triangles: (F', 3) over the N + E vertices; symmetry: (N + E,) mirror ids;
    laplacian: (N + E, N + E) graph Laplacian; rim: (R,) ids of the outer boundary.
    """

    extra: sp.csr_matrix
    triangles: np.ndarray
    symmetry: np.ndarray
    laplacian: sp.csr_matrix
    rim: np.ndarray

    @classmethod
    def build(cls, model: FaceModel, rings: int = 3) -> "_ClosedMesh":
        n = model.n_vertices
        loops = sorted(_boundary_loops(model.triangles), key=len)
        holes, rim = loops[:-1], loops[-1]
        where = {v: (h, i) for h, loop in enumerate(holes) for i, v in enumerate(loop)}
        rows, cols, vals, tris = [], [], [], []
        base, ids = n, []
        for loop in holes:
            L = len(loop)
            # ring r (0 = the hole's own boundary) has L vertices; the last "ring" is the centre
            ring_ids = [loop] + [base + r * L + np.arange(L) for r in range(rings - 1)]
            centre = base + (rings - 1) * L
            for r in range(1, rings):
                t = r / rings
                rid = np.repeat(ring_ids[r] - n, L)
                rows += [ring_ids[r] - n, rid]
                cols += [loop, np.tile(loop, L)]
                vals += [np.full(L, 1 - t), np.full(L * L, t / L)]
            rows.append(np.full(L, centre - n))
            cols.append(loop)
            vals.append(np.full(L, 1.0 / L))
            nxt = np.roll(np.arange(L), -1)
            for r in range(rings - 1):
                a, b = ring_ids[r], ring_ids[r + 1]
                tris += [np.stack([a, a[nxt], b[nxt]], 1), np.stack([a, b[nxt], b], 1)]
            last = ring_ids[-1]
            tris.append(np.stack([last, last[nxt], np.full(L, centre)], 1))
            ids.append((ring_ids, centre))
            base = centre + 1
        sym = np.concatenate([model.symmetry, np.zeros(base - n, np.int64)])
        for loop, (ring_ids, centre) in zip(holes, ids):
            tw = [where.get(int(model.symmetry[v]), (None, None)) for v in loop]
            ok = all(h is not None for h, _ in tw) and len({h for h, _ in tw}) == 1
            tw_ids = ids[tw[0][0]] if ok else (ring_ids, centre)
            j = np.array([i for _, i in tw]) if ok else np.arange(len(loop))
            for r in range(1, rings):
                sym[ring_ids[r]] = tw_ids[0][r][j]
            sym[centre] = tw_ids[1]
        extra = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(base - n, n))
        triangles = np.concatenate([model.triangles] + tris).astype(np.int32)
        edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
        return cls(extra, triangles, sym, _laplacian(edges, base), rim)


def _visible(vertices: np.ndarray, depth: np.ndarray, tol: float, occluder: float) -> np.ndarray:
    """Vertices (N, 3) not hidden in the z-buffer (H, W): within ``tol`` of the bilinear depth
    under them, and not more than ``occluder`` behind any of the 4 pixels around them."""
    H, W = depth.shape
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < W) & (y0 + 1 < H)
    x0, y0 = np.clip(x0, 0, W - 2), np.clip(y0, 0, H - 2)
    fx, fy = x - x0, y - y0
    corners = np.stack([depth[y0, x0], depth[y0, x0 + 1], depth[y0 + 1, x0], depth[y0 + 1, x0 + 1]])
    wts = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    covered = np.isfinite(corners)
    wts = np.where(covered, wts, 0.0)
    under = (np.where(covered, corners, 0.0) * wts).sum(0) / np.maximum(wts.sum(0), 1e-12)
    return inside & covered.any(0) & (z >= under - tol) & (z >= corners.max(0) - occluder)


def _eroded(mask: np.ndarray) -> np.ndarray:
    """Nodes of a boolean grid whose 4 neighbours are all set (outside the grid counts as set)."""
    m = np.pad(mask, 1, constant_values=True)
    return mask & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]


def _bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample an (H, W, 3) image at (P, 2) pixel positions (edge-replicated) -> (P, 3) float32."""
    xy = np.asarray(xy, dtype=np.float32).reshape(1, -1, 2)
    out = cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3).astype(np.float32)


def _grid_axis(n: int, step: int) -> np.ndarray:
    """Node positions 0, step, ..., n - 1 (the last node on the last pixel)."""
    ax = np.arange(0, n - 1, step)
    return np.append(ax, n - 1)


def _grid_triangles(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a rows x cols node grid (row-major ids) -> (2 (rows-1)(cols-1), 3)."""
    i = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    return np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def _laplacian(pairs: np.ndarray, n: int) -> sp.csr_matrix:
    """Graph Laplacian (n, n) of undirected edges (E, 2)."""
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    adj = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    adj.data[:] = 1.0  # duplicate edges count once
    return (sp.diags(np.asarray(adj.sum(1)).ravel()) - adj).tocsr()


def _grid_laplacian(h: int, w: int) -> sp.csr_matrix:
    """5-point Laplacian of an h x w node grid (row-major ids)."""
    idx = np.arange(h * w).reshape(h, w)
    pairs = np.concatenate([np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1),
                            np.stack([idx[:-1].ravel(), idx[1:].ravel()], 1)])
    return _laplacian(pairs, h * w)


def _harmonic(L: sp.csr_matrix, values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Laplace interpolation on a graph: values (n, C) kept where ``known`` (n,), the rest
    solves ``L x = 0``. Every connected part must hold a known node. Returns (n, C) float64."""
    v = np.array(values, dtype=np.float64)
    un = ~known
    if un.any():
        rhs = -(L[un][:, known] @ v[known])
        v[un] = spla.splu(L[un][:, un].tocsc()).solve(rhs)
    return v


def _twist(vertices: np.ndarray, follow: np.ndarray, Rd: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Rotate each vertex (V, 3) about ``centre`` by the fraction ``follow`` (V,) of the rotation Rd."""
    rvec = cv2.Rodrigues(Rd)[0].ravel()
    angle = np.linalg.norm(rvec)
    p = vertices - centre
    if angle < 1e-12:
        return vertices.copy()
    k = rvec / angle
    a = follow.astype(np.float64)[:, None] * angle
    c, s = np.cos(a), np.sin(a)
    out = p * c + np.cross(k, p) * s + np.outer(p @ k, k) * (1 - c)
    return out + centre


def _prefiltered(image: np.ndarray, k: float) -> tuple[np.ndarray, float]:
    """The source resampled for output scale ``k`` (area-averaged when minifying) and its scale factor."""
    if k >= 0.8:
        return image, 1.0
    H, W = image.shape[:2]
    w, h = max(1, round(W * k * 1.25)), max(1, round(H * k * 1.25))
    f = w / W
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), f
