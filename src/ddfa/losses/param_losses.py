"""The paper's losses on 62-d parameters, batched in torch.

Every loss takes **de-normalised** parameters in the crop's vertex frame,
``pred`` and ``target`` of shape (B, 62), and returns a scalar (mean over the
batch). All of them reconstruct through a :class:`ddfa.morphable.TorchFaceModel`.
WPDC and fWPDC weigh the parameter errors in the z-scored space when given the
normaliser's ``std`` (as in the paper, where the network regresses z-scores):
``L = || w * (p - p*) / std ||^2``; without it, in raw units.

- :class:`VDC`: mean squared distance between the two dense (or sparse) meshes.
- :class:`WPDC`: the reference weighted parameter distance: weight i is the mesh
  distance caused by replacing parameter i of the target with the prediction's,
  i.e. 62 reconstructions per sample (slow; kept for checking fWPDC).
- :class:`FWPDC`: the same weights from one reconstruction (the paper's fast form).

Weights are treated as constants (no gradient through them), as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from ddfa.morphable import layout
from ddfa.morphable.model import TorchFaceModel


class VDC(nn.Module):
    """``mean_b || V(pred) - V(target) ||^2 / N`` over vertices (dense by default)."""

    def __init__(self, model: TorchFaceModel, dense: bool = True):
        super().__init__()
        self.model, self.dense = model, dense

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = self.model.vertices(pred, self.dense) - self.model.vertices(target, self.dense)
        return d.square().sum(-1).mean()


class _Weighted(nn.Module):
    def __init__(self, model: TorchFaceModel, std=None):
        super().__init__()
        self.model = model
        self.register_buffer("inv_std", None if std is None else 1 / torch.as_tensor(std, dtype=torch.float32))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = pred - target
        if self.inv_std is not None:
            d = d * self.inv_std
        return (self.weights(pred, target) * d).square().sum(1).mean()


class WPDC(_Weighted):
    """Reference WPDC: ``w_i = ||V(p_gt with p_i from pred) - V(p_gt)||``, normalised by max_i w_i."""

    @torch.no_grad()
    def weights(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        B, P = pred.shape
        ref = self.model.vertices(target)
        w = torch.empty_like(pred)
        for i in range(P):
            mixed = target.clone()
            mixed[:, i] = pred[:, i]
            w[:, i] = (self.model.vertices(mixed) - ref).flatten(1).norm(dim=1)
        return w / w.amax(1, keepdim=True).clamp_min(1e-12)


class FWPDC(_Weighted):
    """Fast WPDC: the WPDC weights from one reconstruction of the target shape.

    With the target's model-space shape ``S = mean + A a*`` (N, 3) and pose ``T* = [M | t]``:

    - column j = 0..2 of T: ``w_ij = |T_ij - T*_ij| * ||S[:, j]||``,
    - translation: ``w_i3 = |t_i - t*_i| * sqrt(N)``,
    - coefficient k: ``w_k = |a_k - a*_k| * ||M A_k||``, computed as
      ``sqrt(<M^T M, G_k>)`` with the 3x3 Gram matrix ``G_k = A_k^T A_k`` of mode k.

    normalised by the per-sample maximum. Each term is the exact mesh displacement
    caused by changing that one parameter, so these equal the WPDC weights. The
    paper writes the last term as ``f ||A_k||``, which is the same when M = f R.
    """

    @torch.no_grad()
    def weights(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        B = pred.shape[0]
        diff = (pred - target).abs()
        S = self.model.shape(layout.shape_coeffs(target))  # (B, N, 3)
        n = S.shape[1]
        col = torch.cat([S.norm(dim=1), torch.full((B, 1), float(n) ** 0.5, dtype=S.dtype, device=S.device)], 1)
        wT = layout.pose_matrix(diff) * col[:, None, :]  # (B, 3, 4)
        M = layout.pose_matrix(target)[:, :, :3]
        MtM = M.transpose(1, 2) @ M  # (B, 3, 3)
        mode_norm = torch.einsum("bij,kij->bk", MtM, self.model.basis_gram).clamp_min(0).sqrt()
        w = layout.join(wT, layout.shape_coeffs(diff) * mode_norm)
        return w / w.amax(1, keepdim=True).clamp_min(1e-12)


class LandmarkRegression(nn.Module):
    """LRR: L2 loss between the auxiliary head's 136 outputs and the 68 target points.

    ``pred`` (B, 136) and ``target`` (B, 68, 2) in the same (normalised) units.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred.reshape(target.shape) - target).square().sum(-1).mean()


def balanced(main: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``(|main| / |other|) * other`` with the ratio held constant: adds ``other`` at the
    magnitude of ``main`` (the paper's weighting of LRR and of the vanilla joint loss)."""
    return (main.detach().abs() / other.detach().abs().clamp_min(1e-12)) * other
