"""The non-contrastive self-supervised branch of NC-VQVAE (DESIGN.md "Stage 1 with SSL").

An :class:`SSLHead` pools the latent grid of each view, projects it with a wide MLP and scores the
two projections with one of three non-contrastive losses: Barlow Twins, VICReg or VIbCReg. The head
only shapes the encoder during stage 1 and is discarded afterwards.

Every loss takes two batches of projections (B, D) and returns a dict with ``"loss"`` and its
*unweighted* named terms, so that training curves can show which term moves.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import full_precision

# Weight of the SSL loss in the stage-1 objective, per method [thesis].
THESIS_WEIGHTS = {"barlowtwins": 1.0, "vicreg": 0.01, "vibcreg": 0.01}


# ----------------------------------------------------------------------------- helpers


def _check_pair(z1: torch.Tensor, z2: torch.Tensor) -> None:
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"SSL losses expect two batches shaped (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("SSL losses need a batch of at least 2 series (statistics are taken over the batch)")


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened (D * (D - 1),)."""
    D = m.shape[0]
    return m.flatten()[:-1].view(D - 1, D + 1)[:, 1:].flatten()


def _variance_term(z: torch.Tensor) -> torch.Tensor:
    """Hinge on the std of every feature: mean_j relu(1 - sqrt(Var_j + 1e-4)); 0 when all stds >= 1."""
    return F.relu(1 - torch.sqrt(z.var(dim=0) + 1e-4)).mean()


def _covariance_term(z: torch.Tensor) -> torch.Tensor:
    """VICReg: sum of squared off-diagonal covariances, divided by D."""
    B, D = z.shape
    z = z - z.mean(dim=0)
    cov = z.T @ z / (B - 1)  # (D, D)
    return _off_diagonal(cov).pow(2).sum() / D


def _correlation_term(z: torch.Tensor) -> torch.Tensor:
    """VIbCReg: mean squared off-diagonal entry of the correlation matrix of feature-normalised Z.

    Normalising every feature to unit norm over the batch makes the term scale-free, so it cannot
    be lowered by shrinking the features, and keeps it in [0, 1] whatever D is.
    """
    z = F.normalize(z - z.mean(dim=0), dim=0)  # (B, D), unit-norm columns
    return _off_diagonal(z.T @ z).pow(2).mean()


# ----------------------------------------------------------------------------- losses


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins: push the cross-correlation of the standardised views to the identity.

    C = Z1~^T Z2~ / B with every feature standardised over the batch;
    L = [sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2] / D. Dividing by D keeps the loss on the
    same scale for every projector width.
    """

    def __init__(self, *, lambd: float = 0.005):
        super().__init__()
        self.lambd = lambd

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> dict[str, torch.Tensor]:
        _check_pair(z1, z2)
        B, D = z1.shape
        std = lambda z: (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)  # noqa: E731
        c = std(z1).T @ std(z2) / B  # (D, D)
        on_diag = (1 - torch.diagonal(c)).pow(2).sum() / D
        off_diag = _off_diagonal(c).pow(2).sum() / D
        return {"loss": on_diag + self.lambd * off_diag, "on_diag": on_diag, "off_diag": off_diag}


class VICRegLoss(nn.Module):
    """VICReg: invariance (MSE) + variance hinge + covariance penalty.

    L = sim * MSE(Z1, Z2) + var * [v(Z1) + v(Z2)] + cov * [c(Z1) + c(Z2)].
    """

    def __init__(self, *, sim: float = 25.0, var: float = 25.0, cov: float = 1.0):
        super().__init__()
        self.w_sim, self.w_var, self.w_cov = sim, var, cov

    def _cov(self, z: torch.Tensor) -> torch.Tensor:
        return _covariance_term(z)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> dict[str, torch.Tensor]:
        _check_pair(z1, z2)
        sim = F.mse_loss(z1, z2)
        var = _variance_term(z1) + _variance_term(z2)
        cov = self._cov(z1) + self._cov(z2)
        loss = self.w_sim * sim + self.w_var * var + self.w_cov * cov
        return {"loss": loss, "sim": sim, "var": var, "cov": cov}


class VIbCRegLoss(VICRegLoss):
    """VIbCReg: VICReg with a scale-free covariance term (see :func:`_correlation_term`).

    Meant for projections that went through :class:`IterNorm`, as :class:`SSLHead` arranges.
    """

    def __init__(self, *, sim: float = 25.0, var: float = 25.0, cov: float = 100.0):
        super().__init__(sim=sim, var=var, cov=cov)

    def _cov(self, z: torch.Tensor) -> torch.Tensor:
        return _correlation_term(z)


# ----------------------------------------------------------------------------- IterNorm


def _largest_divisor(n: int, at_most: int) -> int:
    return max(g for g in range(1, min(n, at_most) + 1) if n % g == 0)


class IterNorm(nn.Module):
    """Group whitening by Newton–Schulz iterations (Huang et al., CVPR 2019), on (B, D) inputs.

    The D features are split into ``num_groups`` groups of consecutive features; each group is
    centred and multiplied by an approximation of Sigma^{-1/2}, Sigma its batch covariance (+ eps I).
    The covariance is first divided by its trace so that the iteration
    P <- (3 P - P^3 Sigma_N) / 2, P_0 = I, converges (run in its coupled, numerically stable form);
    ``n_iter`` steps give a *partial* whitening that is smooth to backpropagate through. If ``num_features`` is not divisible by ``num_groups``,
    the largest divisor of ``num_features`` below ``num_groups`` is used (see ``self.num_groups``).

    Training mode whitens with batch statistics and tracks running ones (mean and whitening matrix,
    exponential average with ``momentum``); eval mode uses the running statistics only.
    """

    def __init__(
        self,
        *,
        num_features: int,
        num_groups: int = 64,
        n_iter: int = 5,
        momentum: float = 0.1,
        affine: bool = False,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.num_features, self.n_iter, self.momentum, self.eps = num_features, n_iter, momentum, eps
        self.num_groups = _largest_divisor(num_features, num_groups)
        c = num_features // self.num_groups
        self.register_buffer("running_mean", torch.zeros(self.num_groups, c, 1))
        self.register_buffer("running_wm", torch.eye(c).expand(self.num_groups, c, c).clone())
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.weight = self.bias = None

    def _whitening_matrix(self, xc: torch.Tensor) -> torch.Tensor:
        """Approximate Sigma^{-1/2} per group from centred data xc (G, c, B) -> (G, c, c)."""
        G, c, B = xc.shape
        eye = torch.eye(c, device=xc.device, dtype=xc.dtype).expand(G, c, c)
        sigma = torch.baddbmm(eye, xc, xc.transpose(1, 2), beta=self.eps, alpha=1.0 / B)  # (G, c, c)
        r_tr = 1.0 / sigma.diagonal(dim1=1, dim2=2).sum(-1).view(G, 1, 1)  # 1 / trace
        # Coupled form: y -> Sigma_N^{1/2}, p -> Sigma_N^{-1/2}. Same iterates as the textbook
        # P <- (3 P - P^3 Sigma_N) / 2 in exact arithmetic and the same cost, but rounding errors do
        # not blow up after ~10 iterations in float32.
        y, p = sigma * r_tr, eye
        for _ in range(self.n_iter):
            t = torch.baddbmm(eye, p, y, beta=1.5, alpha=-0.5)  # (3 I - p y) / 2
            y, p = torch.bmm(y, t), torch.bmm(t, p)
        return p * r_tr.sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"IterNorm expects (B, {self.num_features}), got {tuple(x.shape)}")
        B = x.shape[0]
        xg = x.T.reshape(self.num_groups, -1, B)  # (G, c, B)
        if self.training:
            if B < 2:
                raise ValueError("IterNorm needs a batch of at least 2 in training mode")
            mean = xg.mean(dim=2, keepdim=True)  # (G, c, 1)
            xc = xg - mean
            wm = self._whitening_matrix(xc)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_wm.lerp_(wm, self.momentum)
        else:
            xc, wm = xg - self.running_mean, self.running_wm
        out = torch.bmm(wm, xc).reshape(self.num_features, B).T  # (B, D)
        if self.weight is not None:
            out = out * self.weight + self.bias
        return out

    def extra_repr(self) -> str:
        return f"{self.num_features}, num_groups={self.num_groups}, n_iter={self.n_iter}, momentum={self.momentum}"


# ----------------------------------------------------------------------------- head


class Projector(nn.Module):
    """MLP (Linear -> BN -> ReLU) x (n_layers - 1) -> Linear, all ``proj_dim`` wide [thesis 4096 x 3].

    The hidden linear layers have no bias: the BatchNorm right after would cancel it.
    """

    def __init__(self, *, in_dim: int, proj_dim: int, n_layers: int = 3):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"a projector needs at least 1 layer, got n_layers={n_layers}")
        layers, d = [], in_dim
        for _ in range(n_layers - 1):
            layers += [nn.Linear(d, proj_dim, bias=False), nn.BatchNorm1d(proj_dim), nn.ReLU(inplace=True)]
            d = proj_dim
        layers.append(nn.Linear(d, proj_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


_LOSSES = {"barlowtwins": BarlowTwinsLoss, "vicreg": VICRegLoss, "vibcreg": VIbCRegLoss}


class SSLHead(nn.Module):
    """Pool a latent grid, project it and score two views with a non-contrastive loss.

    Pooling concatenates the global average (the overall content) and the global max (the
    strongest local feature) over the grid, giving 2d features. For ``vibcreg`` the projector
    output is whitened by :class:`IterNorm` before the loss. Each view goes through the projector
    on its own, so BatchNorm and IterNorm statistics are per view, as in the original methods.
    """

    def __init__(self, *, method: str, latent_dim: int, proj_dim: int, loss_params: dict | None = None):
        super().__init__()
        if method not in _LOSSES:
            raise ValueError(f"unknown SSL method {method!r}; choose one of {', '.join(_LOSSES)}")
        self.method = method
        self.projector = Projector(in_dim=2 * latent_dim, proj_dim=proj_dim)
        self.whiten = IterNorm(num_features=proj_dim, num_groups=64) if method == "vibcreg" else nn.Identity()
        self.criterion = _LOSSES[method](**(loss_params or {}))

    @staticmethod
    def pool(z: torch.Tensor) -> torch.Tensor:
        """(B, d, H, W) -> (B, 2d): global average ⊕ global max."""
        if z.ndim != 4:
            raise ValueError(f"SSLHead expects latent grids shaped (B, d, H, W), got {tuple(z.shape)}")
        return torch.cat([z.mean(dim=(2, 3)), z.amax(dim=(2, 3))], dim=1)

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """The projection of one view: (B, d, H, W) -> (B, proj_dim), float32 (under mixed precision the
        projector's products run in bfloat16, the whitening in float32)."""
        p = self.projector(self.pool(z))
        with full_precision(p):
            return self.whiten(p.float())

    def forward(self, z_grid_1: torch.Tensor, z_grid_2: torch.Tensor) -> dict[str, torch.Tensor]:
        e1, e2 = self.embed(z_grid_1), self.embed(z_grid_2)
        with full_precision(e1):  # correlation and covariance terms in float32
            return self.criterion(e1, e2)


def loss_params(cfg) -> dict:
    """The keyword arguments of the loss of ``cfg.method`` from an :class:`~tsvq.config.SSLConfig`
    (empty for ``none``): Barlow Twins ``lambd``, VICReg / VIbCReg ``sim``, ``var``, ``cov`` (λ, μ, ν)."""
    if cfg.method == "barlowtwins":
        return {"lambd": cfg.bt_lambda}
    if cfg.method in ("vicreg", "vibcreg"):
        m = cfg.method
        return {"sim": getattr(cfg, f"{m}_lambda"), "var": getattr(cfg, f"{m}_mu"), "cov": getattr(cfg, f"{m}_nu")}
    return {}


def build_ssl_head(method: str, *, latent_dim: int, proj_dim: int, loss_params: dict | None = None) -> SSLHead:
    """The SSL head of ``method`` (barlowtwins | vicreg | vibcreg) for latents of dimension ``latent_dim``;
    ``loss_params`` go to the loss (default: the thesis values, e.g. from :func:`loss_params`)."""
    if method not in THESIS_WEIGHTS:
        raise ValueError(f"unknown SSL method {method!r}; choose one of {', '.join(THESIS_WEIGHTS)}")
    return SSLHead(method=method, latent_dim=latent_dim, proj_dim=proj_dim, loss_params=loss_params)
