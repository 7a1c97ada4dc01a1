"""The SSL losses on constructed inputs whose values are known, IterNorm whitening and the head."""
import pytest
import torch

from tsvq.ssl import (
    THESIS_WEIGHTS,
    BarlowTwinsLoss,
    IterNorm,
    Projector,
    SSLHead,
    VICRegLoss,
    VIbCRegLoss,
    build_ssl_head,
)

B, D = 64, 16


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def decorrelated(b=B, d=D, seed=0):
    """(b, d) with every feature of mean 0 and (biased) variance 1, and no correlation between features."""
    a = torch.randn(b, b, generator=gen(seed), dtype=torch.float64)
    a[:, 0] = 1.0  # QR keeps the first column: the rest come out orthogonal to the all-ones vector
    q, _ = torch.linalg.qr(a)
    return (q[:, 1 : d + 1] * b**0.5).float()


def test_decorrelated_helper_is_what_it_says():
    z = decorrelated()
    assert torch.allclose(z.mean(0), torch.zeros(D), atol=1e-5)
    assert torch.allclose(z.T @ z / B, torch.eye(D), atol=1e-5)


def test_barlow_twins_is_zero_for_identical_decorrelated_standardised_views():
    z = decorrelated()
    out = BarlowTwinsLoss()(z, z)
    assert out["loss"] < 1e-6 and out["on_diag"] < 1e-6 and out["off_diag"] < 1e-6


def test_barlow_twins_terms():
    z = decorrelated()
    # Collapse: constant features have no correlation at all, so every C_ii = 0 -> on_diag = 1.
    collapsed = torch.ones(B, D)
    assert torch.isclose(BarlowTwinsLoss()(collapsed, collapsed)["on_diag"], torch.tensor(1.0))
    # Redundant features: two copies of each of D/2 features give C_ij = 1 for each copy pair.
    redundant = torch.cat([z[:, : D // 2]] * 2, dim=1)
    out = BarlowTwinsLoss(lambd=0.5)(redundant, redundant)
    assert out["on_diag"] < 1e-6
    assert torch.isclose(out["off_diag"], torch.tensor(1.0), atol=1e-4)  # D off-diagonal ones / D
    assert torch.isclose(out["loss"], torch.tensor(0.5), atol=1e-4)
    # Views that disagree (independent) are not invariant.
    assert BarlowTwinsLoss()(z, decorrelated(seed=1))["on_diag"] > 0.5


@pytest.mark.parametrize("loss_cls", [VICRegLoss, VIbCRegLoss])
def test_vicreg_family_invariance_and_variance(loss_cls):
    z = 2 * decorrelated()  # std 2 > 1: the variance hinge is inactive
    out = loss_cls()(z, z)
    assert out["sim"] == 0 and out["var"] == 0
    assert out["cov"] < 1e-8
    assert torch.isclose(loss_cls()(z, z + 0.1)["sim"], torch.tensor(0.01))
    # A collapsed batch (all rows equal) is penalised: v = 1 - sqrt(1e-4) = 0.99 for each view.
    collapsed = torch.randn(1, D, generator=gen()).expand(B, D)
    out = loss_cls()(collapsed, collapsed)
    assert torch.isclose(out["var"], torch.tensor(2 * 0.99))
    assert out["sim"] == 0


def test_vicreg_covariance_term():
    z = decorrelated(d=2)
    z = z * ((B - 1) / B) ** 0.5  # unbiased variance 1
    redundant = torch.stack([z[:, 0], z[:, 0]], dim=1)  # Cov = [[1, 1], [1, 1]]
    out = VICRegLoss()(redundant, redundant)
    assert torch.isclose(out["cov"], torch.tensor(2 * (2 * 1.0**2) / 2), atol=1e-4)  # 2 views x sum / D
    # VICReg's covariance grows with scale; it is the loss that feels feature magnitude.
    assert torch.isclose(VICRegLoss()(3 * redundant, 3 * redundant)["cov"], 81 * out["cov"], rtol=1e-4)


def test_vibcreg_covariance_term_is_a_scale_free_mean_of_correlations():
    z = decorrelated(d=4)
    redundant = torch.stack([z[:, 0], z[:, 0], z[:, 1], z[:, 2]], dim=1)  # one correlated pair of 12 entries
    out = VIbCRegLoss()(redundant, redundant)
    assert torch.isclose(out["cov"], torch.tensor(2 * 2 / 12), atol=1e-5)  # 2 views x mean over D(D-1)
    scaled = redundant * torch.tensor([5.0, 0.1, 3.0, 7.0])
    assert torch.isclose(VIbCRegLoss()(scaled, scaled)["cov"], out["cov"], atol=1e-5)
    assert torch.isclose(out["loss"], 25 * out["sim"] + 25 * out["var"] + 100 * out["cov"])


def test_losses_reject_bad_shapes():
    with pytest.raises(ValueError, match="at least 2"):
        VICRegLoss()(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        BarlowTwinsLoss()(torch.randn(4, 3), torch.randn(4, 5))


def correlated(b, d, seed=0):
    x = torch.randn(b, d, generator=gen(seed))
    mix = torch.eye(d) + 0.5 * torch.randn(d, d, generator=gen(seed + 1))
    return x @ mix + 3.0


def group_covariances(y, groups):
    yg = y.T.reshape(groups, -1, y.shape[0])
    yg = yg - yg.mean(dim=2, keepdim=True)
    return yg @ yg.transpose(1, 2) / y.shape[0]  # (G, c, c)


@pytest.mark.parametrize("n_iter,c,tol", [(5, 4, 0.02), (10, 16, 1e-4), (50, 16, 1e-4)])
def test_iternorm_whitens_each_group_in_training_mode(n_iter, c, tol):
    x = correlated(256, 4 * c)
    eye = torch.eye(c).expand(4, c, c)
    assert (group_covariances(x, 4) - eye).abs().max() > 1.0  # far from white before
    y = IterNorm(num_features=4 * c, num_groups=4, n_iter=n_iter)(x)
    assert torch.allclose(y.mean(0), torch.zeros(4 * c), atol=1e-4)
    assert (group_covariances(y, 4) - eye).abs().max() < tol


def test_iternorm_matches_the_textbook_newton_schulz_iteration():
    x = correlated(256, 32).double()
    m = IterNorm(num_features=32, num_groups=2).double()  # 5 iterations, groups of 16
    xg = x.T.reshape(2, 16, 256)
    xc = xg - xg.mean(dim=2, keepdim=True)
    sigma = xc @ xc.transpose(1, 2) / 256 + 1e-5 * torch.eye(16, dtype=x.dtype)
    tr = sigma.diagonal(dim1=1, dim2=2).sum(-1).view(2, 1, 1)
    p = torch.eye(16, dtype=x.dtype).expand(2, 16, 16)
    for _ in range(5):
        p = 1.5 * p - 0.5 * torch.linalg.matrix_power(p, 3) @ (sigma / tr)
    expected = (p / tr.sqrt() @ xc).reshape(32, 256).T
    assert torch.allclose(m(x), expected, atol=1e-10)


def test_iternorm_eval_mode_uses_running_statistics():
    x = correlated(128, 32)
    m = IterNorm(num_features=32, num_groups=4, momentum=1.0)  # running stats = last batch
    y_train = m(x)
    m.eval()
    assert torch.allclose(m(x), y_train, atol=1e-5)
    assert torch.allclose(m(x[:1]), y_train[:1], atol=1e-5)  # eval works on a single series
    fresh = IterNorm(num_features=32, num_groups=4).eval()
    assert torch.equal(fresh(x), x)  # before any training step: zero mean, identity matrix


def test_iternorm_group_count_falls_back_to_a_divisor():
    assert IterNorm(num_features=4096).num_groups == 64
    assert IterNorm(num_features=96).num_groups == 48
    assert IterNorm(num_features=32).num_groups == 32


def test_iternorm_affine_is_applied_after_whitening():
    x = correlated(64, 8)
    m = IterNorm(num_features=8, num_groups=2, affine=True)
    with torch.no_grad():
        m.weight.fill_(2.0), m.bias.fill_(1.0)
    assert torch.allclose(m(x), 2 * IterNorm(num_features=8, num_groups=2)(x) + 1, atol=1e-5)


def test_projector_layout():
    p = Projector(in_dim=8, proj_dim=32)
    kinds = [type(m).__name__ for m in p.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert p(torch.randn(4, 8)).shape == (4, 32)
    # The thesis projector 128 -> 4096 x 3 costs about 34 M parameters.
    with torch.device("meta"):  # count without allocating
        n = sum(q.numel() for q in Projector(in_dim=128, proj_dim=4096).parameters())
    assert 33.5e6 < n < 34.5e6


def test_head_pools_average_and_max():
    z = torch.randn(3, 4, 5, 6, generator=gen())
    pooled = SSLHead.pool(z)
    assert pooled.shape == (3, 8)
    assert torch.allclose(pooled[:, :4], z.mean(dim=(2, 3))) and torch.equal(pooled[:, 4:], z.amax(dim=(2, 3)))


@pytest.mark.parametrize("method", ["barlowtwins", "vicreg", "vibcreg"])
def test_head_gradients_flow_to_both_views(method):
    torch.manual_seed(0)
    head = build_ssl_head(method, latent_dim=8, proj_dim=64)
    assert isinstance(head.whiten, IterNorm) == (method == "vibcreg")
    z1 = torch.randn(4, 8, 5, 3, generator=gen(1), requires_grad=True)
    z2 = torch.randn(4, 8, 5, 3, generator=gen(2), requires_grad=True)
    out = head(z1, z2)
    assert {"loss"} < set(out) and out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    for z in (z1, z2):
        assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    # Batches of 2 work in training mode too.
    assert torch.isfinite(head(z1[:2].detach(), z2[:2].detach())["loss"])


def test_build_ssl_head_rejects_unknown_methods_and_weights_match_thesis():
    assert THESIS_WEIGHTS == {"barlowtwins": 1.0, "vicreg": 0.01, "vibcreg": 0.01}
    with pytest.raises(ValueError, match="unknown SSL method 'simclr'.*barlowtwins, vicreg, vibcreg"):
        build_ssl_head("simclr", latent_dim=8, proj_dim=16)
    with pytest.raises(ValueError, match=r"\(B, d, H, W\)"):
        build_ssl_head("vicreg", latent_dim=8, proj_dim=16)(torch.randn(4, 8), torch.randn(4, 8))


def test_loss_parameters_come_from_the_config():
    from tsvq.config import SSLConfig
    from tsvq.ssl import loss_params

    # the defaults are the thesis values, equal to the losses' own defaults
    assert loss_params(SSLConfig(method="barlowtwins")) == {"lambd": BarlowTwinsLoss().lambd}
    for method, cls in (("vicreg", VICRegLoss), ("vibcreg", VIbCRegLoss)):
        ref = cls()
        assert loss_params(SSLConfig(method=method)) == {"sim": ref.w_sim, "var": ref.w_var, "cov": ref.w_cov}
    assert loss_params(SSLConfig(method="none")) == {}
    cfg = SSLConfig(method="vibcreg", vibcreg_lambda=5.0, vibcreg_mu=6.0, vibcreg_nu=7.0, vicreg_nu=9.0)
    head = build_ssl_head("vibcreg", latent_dim=4, proj_dim=64, loss_params=loss_params(cfg))
    assert (head.criterion.w_sim, head.criterion.w_var, head.criterion.w_cov) == (5.0, 6.0, 7.0)
    bt = build_ssl_head("barlowtwins", latent_dim=4, proj_dim=8,
                        loss_params=loss_params(SSLConfig(method="barlowtwins", bt_lambda=0.1)))
    assert bt.criterion.lambd == 0.1
