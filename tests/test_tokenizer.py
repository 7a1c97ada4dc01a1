import pytest
import torch

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.tokenizer import STFT, Tokenizer, VectorQuantizer


@pytest.fixture(scope="module")
def gunpoint():
    return load_ucr("GunPoint")


def test_stft_roundtrip_is_identity(gunpoint):
    x = torch.as_tensor(gunpoint.x_test)
    stft = STFT(n_fft=8, length=x.shape[-1])
    u = stft(x)
    assert u.shape == (len(x), 2, 5, 1 + 150 // 2)
    torch.testing.assert_close(stft.inverse(u), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [24, 65, 140, 1024])
def test_token_grid_matches_design(length):
    # DESIGN.md: time width downsampled to about 8 columns, 5 frequency rows -> 40-75 tokens
    m = Tokenizer(config=get_config("smoke").tokenizer, length=length)
    h, w = m.grid("all")
    assert h == 5 and 6 <= w <= 15 and 30 <= m.n_tokens("all") <= 75
    x = torch.randn(3, 1, length)
    assert m(x).x_hat.shape == x.shape


def test_lf_hf_bands_sum_back_to_x(gunpoint):
    m = Tokenizer(config=get_config("smoke", tokenizer={"bands": "lf_hf"}).tokenizer, length=150)
    x = torch.as_tensor(gunpoint.x_train[:8])
    u = m.stft(x)
    parts = [m.stft.inverse(m.band_stft(u, k)) for k in m.band_names]
    torch.testing.assert_close(parts[0] + parts[1], x, atol=1e-5, rtol=1e-5)
    assert m.grid("lf")[0] == 1 and m.grid("hf")[0] == 4 and m.grid("hf")[1] > m.grid("lf")[1]
    assert m(x).x_hat.shape == x.shape


def _vq(**kw):
    return VectorQuantizer(codebook_size=4, dim=3, decay=0.9, eps=1e-5, commitment_weight=1.0, **kw)


def test_ema_moves_codes_toward_assigned_latents():
    torch.manual_seed(0)
    vq = _vq(dead_code_threshold=0.0).train()
    target = vq.embed[0] + 5.0  # latents near code 0 (farther from the others)
    vq.embed[1:] += 100.0
    z = target.view(1, 3, 1, 1).repeat(16, 1, 1, 1) + 0.01 * torch.randn(16, 3, 1, 1)
    before = (vq.embed[0] - target).norm()
    for _ in range(20):
        _, idx, _, _ = vq(z)
    assert (idx == 0).all()
    assert (vq.embed[0] - target).norm() < 0.05 * before


def test_eval_mode_never_changes_codebook():
    vq = _vq().eval()
    state = {k: v.clone() for k, v in vq.state_dict().items()}
    vq(torch.randn(8, 3, 2, 2) * 10)
    for k, v in vq.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_straight_through_gradient_reaches_encoder(gunpoint):
    m = Tokenizer(config=get_config("smoke").tokenizer, length=150).train()
    x = torch.as_tensor(gunpoint.x_train[:8])
    out = m(x)
    (out.time_mse + out.stft_mse).backward()  # reconstruction only: reaches the encoder only through z_q
    grads = [p.grad for p in m.bands["all"].encoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_tokens_roundtrip_through_codebook(gunpoint):
    m = Tokenizer(config=get_config("smoke").tokenizer, length=150).eval()
    x = torch.as_tensor(gunpoint.x_test[:5])
    tokens = m.tokenize(x)
    assert tokens["all"].shape == (5, m.n_tokens("all")) and tokens["all"].max() < 32
    torch.testing.assert_close(m.detokenize(tokens), m(x).x_hat)


def test_codebook_init_and_dead_code_restart_are_config():
    # thesis (paper): plain EMA VQ; cpu and smoke: data-initialised codebook and dead-code restart (tsvq's choice)
    paper = get_config("paper").tokenizer
    assert (paper.codebook_init, paper.dead_code_threshold) == ("random", 0.0)
    for profile in ("cpu", "smoke"):
        t = get_config(profile).tokenizer
        assert (t.codebook_init, t.dead_code_threshold) == ("data", 1.0)
    for threshold in (0.0, 1.0):
        m = Tokenizer(config=get_config("smoke", tokenizer={"dead_code_threshold": threshold}).tokenizer, length=64)
        assert m.bands["all"].vq.dead_code_threshold == threshold
    with pytest.raises(ValueError, match="codebook_init"):
        get_config("smoke", tokenizer={"codebook_init": "kmeans"})


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_dead_codes_are_reseeded_only_with_a_threshold(threshold):
    torch.manual_seed(0)
    vq = _vq(dead_code_threshold=threshold).train()
    vq.embed[1:] += 100.0  # codes 1..3 far from the data: nobody picks them
    vq.embed_avg.copy_(vq.embed)
    target = vq.embed[0].clone()
    z = target.view(1, 3, 1, 1).repeat(16, 1, 1, 1) + 0.01 * torch.randn(16, 3, 1, 1)
    for _ in range(5):
        vq(z)
    far = (vq.embed[1:] - target).norm(dim=1) > 50
    assert far.all() if threshold == 0.0 else not far.any()


def test_training_initialises_the_codebook_from_data_only_when_asked(gunpoint, monkeypatch):
    from tsvq.train import train_tokenizer

    calls = []
    orig = Tokenizer.init_codebooks
    monkeypatch.setattr(Tokenizer, "init_codebooks", lambda self, *a: calls.append(1) or orig(self, *a))
    for init in ("random", "data"):
        cfg = get_config("smoke", tokenizer={"codebook_init": init}, stage1={"epochs": 1})
        train_tokenizer(gunpoint, cfg, seed=0, progress=False, device="cpu")
        assert len(calls) == (init == "data")
