"""Stage-2 prior: masking schedule, masked loss, both MaskGIT variants, and the sampler."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tsvq.config import PriorConfig
from tsvq.prior import MaskGIT, Sampler, cosine_mask_ratio, masked_cross_entropy, random_mask

N_TOKENS, K, D, N_CLASSES = 8, 6, 16, 3
VARIANTS = ("token", "embedding")


def make_prior(variant="token", *, n_context_tokens=0, seed=0, **overrides) -> MaskGIT:
    torch.manual_seed(seed)
    cfg = PriorConfig(variant=variant, hidden_dim=64, depth=1, heads=2, T=5, **overrides)
    codebook = torch.randn(K, D)
    context_codebook = torch.randn(5, 8) if n_context_tokens else None
    return MaskGIT(
        config=cfg, n_tokens=N_TOKENS, codebook=codebook, n_classes=N_CLASSES,
        n_context_tokens=n_context_tokens, context_codebook=context_codebook,
    )


def class_tokens(labels: torch.Tensor) -> torch.Tensor:
    """A learnable dataset: token i of class c is (2c + i) mod K."""
    return (2 * labels[:, None] + torch.arange(N_TOKENS)) % K  # (B, N)


def record_forward(prior: MaskGIT) -> list[tuple]:
    """Hook the network; each call appends (tokens, mask, labels) as seen by forward."""
    calls = []
    prior.register_forward_hook(lambda m, args, out: calls.append(tuple(a.clone() for a in args[:3])))
    return calls


# ------------------------------------------------------------------------------- masking and loss


def test_cosine_mask_ratio_endpoints():
    assert cosine_mask_ratio(0.0) == 1.0
    assert abs(cosine_mask_ratio(1.0)) < 1e-12
    assert torch.allclose(cosine_mask_ratio(torch.tensor([0.5])), torch.tensor([math.sqrt(0.5)]))


def test_random_mask_mean_fraction_is_two_over_pi():
    g = torch.Generator().manual_seed(0)
    mask = random_mask(20000, 100, g)
    assert mask.shape == (20000, 100) and mask.dtype == torch.bool
    assert abs(mask.float().mean().item() - 2 / math.pi) < 0.02
    counts = mask.sum(1)
    assert counts.min() >= 1 and counts.max() <= 100
    # positions are uniform: every column is masked about equally often
    assert (mask.float().mean(0) - 2 / math.pi).abs().max() < 0.03


def test_random_mask_is_seeded():
    a = random_mask(4, 10, torch.Generator().manual_seed(3))
    b = random_mask(4, 10, torch.Generator().manual_seed(3))
    c = random_mask(4, 10, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_masked_cross_entropy_ignores_unmasked_positions():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, N_TOKENS, K, generator=g)
    targets = torch.randint(0, K, (4, N_TOKENS), generator=g)
    mask = random_mask(4, N_TOKENS, g)
    assert (~mask).any()
    base = masked_cross_entropy(logits, targets, mask)
    # the value is the mean over masked positions only
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, K), targets.reshape(-1), reduction="none")
    assert torch.allclose(base, ce[mask.reshape(-1)].mean())
    # wild changes of unmasked logits change nothing, changes of masked ones do
    scrambled = torch.where(mask[..., None], logits, 100 * torch.randn(logits.shape, generator=g))
    assert torch.equal(masked_cross_entropy(scrambled, targets, mask), base)
    shifted = torch.where(mask[..., None], logits + torch.randn(logits.shape, generator=g), logits)
    assert not torch.allclose(masked_cross_entropy(shifted, targets, mask), base)
    with pytest.raises(ValueError):
        masked_cross_entropy(logits, targets, torch.zeros_like(mask))


# ------------------------------------------------------------------------------- network


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shape_and_mask_embedding(variant):
    prior = make_prior(variant).eval()
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, K, (3, N_TOKENS), generator=g)
    mask = random_mask(3, N_TOKENS, g)
    labels = torch.tensor([0, 1, N_CLASSES])
    logits = prior(tokens, mask, labels)
    assert logits.shape == (3, N_TOKENS, K)
    # values under the mask are never read: -1 or another code give the same logits
    other = torch.where(mask, torch.full_like(tokens, -1), tokens)
    assert torch.equal(prior(other, mask, labels), logits)
    # ...but visible tokens are
    assert not torch.allclose(prior((tokens + 1) % K, mask, labels), logits)
    with pytest.raises(ValueError):
        prior(tokens[:, :-1], mask[:, :-1], labels)


def test_variants_initialise_from_codebook():
    torch.manual_seed(0)
    codebook = torch.randn(K, D)
    cfg = PriorConfig(hidden_dim=32, depth=1, heads=2)
    tok = MaskGIT(config=cfg, n_tokens=N_TOKENS, codebook=codebook, n_classes=N_CLASSES)
    emb = MaskGIT(config=PriorConfig(variant="embedding", hidden_dim=32, depth=1, heads=2),
                  n_tokens=N_TOKENS, codebook=codebook, n_classes=N_CLASSES)
    assert tok.token_emb.weight.shape == (K + 1, D)
    assert torch.equal(tok.token_emb.weight[:K], codebook)
    assert torch.equal(emb.codewords, codebook) and emb.codewords.data_ptr() != codebook.data_ptr()
    assert emb.mask_vector.shape == (D,) and isinstance(emb.head, torch.nn.Linear)
    assert tok.class_emb.weight.shape[0] == N_CLASSES + 1


def test_drop_labels_rate():
    prior = make_prior()
    labels = torch.zeros(20000, dtype=torch.long)
    dropped = prior.drop_labels(labels, 0.2, torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, N_CLASSES}
    assert abs((dropped == N_CLASSES).float().mean().item() - 0.2) < 0.01


def test_label_dropout_only_in_training_mode():
    prior = make_prior(p_uncond=0.5)
    calls = record_forward(prior)
    labels = torch.randint(0, N_CLASSES, (64,), generator=torch.Generator().manual_seed(0))
    tokens = class_tokens(labels)
    prior.train()
    prior.loss(tokens, labels, generator=torch.Generator().manual_seed(1))
    seen = calls[-1][2]
    assert (seen == N_CLASSES).sum() > 10  # about half are null
    assert torch.equal(seen[seen != N_CLASSES], labels[seen != N_CLASSES])
    prior.eval()
    out1 = prior.loss(tokens, labels, generator=torch.Generator().manual_seed(1))
    assert torch.equal(calls[-1][2], labels)
    assert torch.equal(calls[-1][1], calls[0][1])  # same seed, same mask in both modes
    # eval loss is a deterministic function of the generator seed: comparable across epochs
    out2 = prior.loss(tokens, labels, generator=torch.Generator().manual_seed(1))
    assert out1["loss"].item() == out2["loss"].item()
    assert abs(out1["masked_fraction"].item() - calls[-1][1].float().mean().item()) < 1e-7


def train(prior: MaskGIT, make_batch, *, steps: int = 100, seed: int = 0) -> None:
    opt = torch.optim.Adam(prior.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    prior.train()
    for _ in range(steps):
        tokens, labels, context = make_batch(32, g)
        loss = prior.loss(tokens, labels, context=context, generator=g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()


def class_batch(n: int, g: torch.Generator):
    labels = torch.randint(0, N_CLASSES, (n,), generator=g)
    return class_tokens(labels), labels, None


def val_loss(prior: MaskGIT) -> float:
    labels = torch.arange(N_CLASSES).repeat(20)
    prior.eval()
    with torch.no_grad():
        loss = prior.loss(class_tokens(labels), labels, generator=torch.Generator().manual_seed(123))["loss"]
    prior.train()
    return loss.item()


@pytest.fixture(scope="module", params=VARIANTS)
def trained(request):
    """A prior of each variant trained on class_tokens, with its VAL loss before and after."""
    prior = make_prior(request.param)
    before = val_loss(prior)
    train(prior, class_batch)
    return prior, before, val_loss(prior)


def test_prior_learns_class_dependent_tokens(trained):
    prior, before, after = trained
    assert before > 0.8 * math.log(K)
    # log 3 is the best loss from the position alone: below it the class / visible tokens are used
    assert after < 0.3 * before and after < 0.6, (before, after)


@pytest.mark.parametrize("variant", VARIANTS)
def test_context_tokens_are_used(variant):
    """HF-style prior whose tokens are a function of the context: it must read the context."""
    n_ctx = 4
    prior = make_prior(variant, n_context_tokens=n_ctx)

    def batch(n, g):
        c = torch.randint(0, 5, (n, 1), generator=g)  # one context code per sequence
        return (c + torch.arange(N_TOKENS)) % K, torch.zeros(n, dtype=torch.long), c.expand(n, n_ctx)

    tokens, labels, context = batch(64, torch.Generator().manual_seed(9))
    everything = torch.ones_like(tokens, dtype=torch.bool)
    with pytest.raises(ValueError):
        prior(tokens, everything, labels)  # the context is required

    def all_masked_loss():
        prior.eval()
        with torch.no_grad():
            loss = masked_cross_entropy(prior(tokens, everything, labels, context), tokens, everything)
        prior.train()
        return loss.item()

    before = all_masked_loss()
    train(prior, batch)
    after = all_masked_loss()
    # with every token masked and a constant label only the context can tell the five rows apart:
    # without it no loss below log 5 is possible
    assert after < 0.5 * math.log(5), (before, after)
    sampler = Sampler(prior=prior)
    g = torch.Generator().manual_seed(0)
    samples = sampler.sample(64, labels=0, guidance=2.0, context=context, generator=g)
    assert samples.shape == (64, N_TOKENS)
    # samples follow their own context (chance agreement would be about 1/K)
    assert (samples == tokens).float().mean() > 0.6


# ------------------------------------------------------------------------------- sampler


def expected_masked_counts(n_unknown: int, T: int) -> list[int]:
    return [n_unknown] + [math.floor(n_unknown * math.cos(math.pi / 2 * s / T)) for s in range(1, T)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoding_fills_everything_in_T_steps_and_keeps_given_tokens(variant):
    prior = make_prior(variant)
    calls = record_forward(prior)
    given = torch.full((5, N_TOKENS), -1)
    given[:, [0, 3]] = torch.tensor([2, 4])
    given[4] = torch.arange(N_TOKENS) % K  # a fully known row
    sampler = Sampler(prior=prior, T=6)
    out = sampler.sample(5, generator=torch.Generator().manual_seed(0), given=given)
    assert out.shape == (5, N_TOKENS) and out.dtype == torch.long
    assert out.min() >= 0 and out.max() < K
    assert torch.equal(out[given >= 0], given[given >= 0])
    assert sampler.n_forward_passes == 6 and len(calls) == 6
    # masked counts follow floor(n_unknown cos(pi/2 s/T)); given positions are never masked
    for s, (tokens, mask, _) in enumerate(calls):
        assert not mask[given >= 0].any()
        assert mask[:4].sum(1).tolist() == [expected_masked_counts(6, 6)[s]] * 4
        assert mask[4].sum() == 0
    # a decided token is never revised: visible tokens at step s are the same at every later step
    for (t0, m0, _), (t1, m1, _) in zip(calls, calls[1:]):
        assert not (m1 & ~m0).any()
        assert torch.equal(t1[~m0], t0[~m0])
    last_tokens, last_mask, _ = calls[-1]
    assert torch.equal(out[~last_mask], last_tokens[~last_mask])
    assert prior.training  # the previous mode is restored


def test_sampling_is_seeded():
    prior = make_prior()
    sampler = Sampler(prior=prior)
    a = sampler.sample(8, labels=1, guidance=3.0, generator=torch.Generator().manual_seed(5))
    b = sampler.sample(8, labels=1, guidance=3.0, generator=torch.Generator().manual_seed(5))
    c = sampler.sample(8, labels=1, guidance=3.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_guidance_zero_is_unconditional_sampling(trained):
    prior = trained[0]
    sampler = Sampler(prior=prior)
    labels = torch.arange(30) % N_CLASSES
    uncond = sampler.sample(30, generator=torch.Generator().manual_seed(0))
    guided0 = sampler.sample(30, labels=labels, guidance=0.0, generator=torch.Generator().manual_seed(0))
    cond = sampler.sample(30, labels=labels, guidance=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(guided0, uncond)
    # the labels do matter: conditional samples follow their class's sequence, unconditional ones
    # only by chance (about 1/3)
    assert not torch.equal(cond, uncond)
    target = class_tokens(labels)
    cond_acc, uncond_acc = (cond == target).float().mean(), (uncond == target).float().mean()
    assert cond_acc > 0.6 and cond_acc > uncond_acc + 0.2, (cond_acc, uncond_acc)


def test_guidance_one_is_conditional(trained):
    prior = trained[0].eval()
    sampler = Sampler(prior=prior)
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2, 1])
    tokens = class_tokens(labels)
    mask = random_mask(4, N_TOKENS, g)
    cond = prior(tokens, mask, labels)
    null = prior(tokens, mask, torch.full_like(labels, N_CLASSES))
    assert not torch.allclose(cond, null, atol=1e-2)
    # s = 1: one plain conditional pass; the doubled pass gives the same logits at s -> 1
    assert torch.equal(sampler.guided_logits(tokens, mask, labels, 1.0), cond)
    assert torch.allclose(sampler.guided_logits(tokens, mask, labels, 1.0 + 1e-6), cond, atol=1e-4)
    assert torch.allclose(sampler.guided_logits(tokens, mask, labels, 0.0), null, atol=1e-5)
    guided = sampler.guided_logits(tokens, mask, labels, 3.0)
    assert torch.allclose(guided, null + 3 * (cond - null), atol=1e-4)
    assert torch.equal(sampler.guided_logits(tokens, mask, None, 3.0), null)
    prior.train()


def test_guided_step_is_one_forward_pass_over_a_doubled_batch():
    prior = make_prior()
    batch_sizes = []
    prior.register_forward_hook(lambda m, args, out: batch_sizes.append(args[0].shape[0]))
    sampler = Sampler(prior=prior, T=4)
    labels = torch.tensor([0, 1, 2])
    sampler.sample(3, labels=labels, guidance=2.5, generator=torch.Generator().manual_seed(0))
    assert batch_sizes == [6] * 4 and sampler.n_forward_passes == 4
    batch_sizes.clear()
    sampler.sample(3, labels=labels, guidance=1.0, generator=torch.Generator().manual_seed(0))
    assert batch_sizes == [3] * 4
    batch_sizes.clear()
    sampler.sample(3, generator=torch.Generator().manual_seed(0))
    assert batch_sizes == [3] * 4 and sampler.n_forward_passes == 4


def test_sampler_rejects_bad_inputs():
    sampler = Sampler(prior=make_prior())
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError):
        sampler.sample(2, labels=torch.tensor([0, N_CLASSES]), generator=g)
    with pytest.raises(ValueError):
        sampler.sample(2, given=torch.full((2, N_TOKENS + 1), -1), generator=g)
    with pytest.raises(ValueError):
        sampler.sample(2, given=torch.full((2, N_TOKENS), K), generator=g)


# ------------------------------------------------------------------------------- thesis masking (ablation)


def test_thesis_masking_inverts_the_schedule():
    n, N = 20000, 100
    cos = random_mask(n, N, torch.Generator().manual_seed(0))
    thesis = random_mask(n, N, torch.Generator().manual_seed(0), masking="thesis")
    # E[1 - cos(pi t / 2)] = 1 - 2 / pi: most sequences keep most tokens visible, some none masked
    assert abs(thesis.float().mean().item() - (1 - 2 / math.pi)) < 0.02
    assert (thesis.sum(1) == 0).any() and (cos.sum(1) >= 1).all()
    # the same t per sequence: the masked counts of the two modes add up to N (up to rounding ties)
    total = cos.sum(1) + thesis.sum(1)
    assert ((total - N).abs() <= 1).all() and (total == N).float().mean() > 0.98
    with pytest.raises(ValueError, match="masking"):
        random_mask(2, N, torch.Generator(), masking="linear")


@pytest.mark.parametrize("variant", VARIANTS)
def test_thesis_loss_scores_all_positions_and_cosine_only_the_masked(variant):
    labels = torch.arange(8) % N_CLASSES
    tokens = class_tokens(labels)
    for masking in ("cosine", "thesis"):
        prior = make_prior(variant, masking=masking).eval()  # eval: no label dropout
        loss = prior.loss(tokens, labels, generator=torch.Generator().manual_seed(5))["loss"]
        mask = random_mask(8, N_TOKENS, torch.Generator().manual_seed(5), masking=masking)  # the same mask
        logits = prior(tokens, mask, labels)
        everywhere = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        if masking == "thesis":
            torch.testing.assert_close(loss, everywhere)
        else:
            torch.testing.assert_close(loss, masked_cross_entropy(logits, tokens, mask))
            assert not torch.allclose(loss, everywhere)


def test_masking_is_validated():
    from tsvq.config import get_config

    assert get_config("paper").prior.masking == "cosine"
    assert get_config("smoke", prior={"masking": "thesis"}).prior.masking == "thesis"
    with pytest.raises(ValueError, match="masking"):
        get_config("smoke", prior={"masking": "inverse"})
    with pytest.raises(ValueError, match="masking"):
        make_prior(masking="inverse")


def _reference_gumbel_sample(sampler: Sampler, n: int, generator: torch.Generator, labels=None, guidance=1.0):
    """The decoding loop as first written: Gumbel noise and log-softmax over every position, decided ones too."""
    from tsvq.prior import _gumbel

    N = sampler.prior.n_tokens
    tokens, mask = torch.full((n, N), -1), torch.ones(n, N, dtype=torch.bool)
    n_unknown = mask.sum(1)
    for s in range(sampler.T):
        logits = sampler.guided_logits(tokens, mask, labels, guidance).float()
        sampled = (logits + _gumbel(tuple(logits.shape), generator)).argmax(-1)
        log_p = logits.log_softmax(-1).gather(-1, sampled[..., None])[..., 0]
        tau = sampler.choice_temperature * (1 - (s + 1) / sampler.T)
        confidence = (log_p + tau * _gumbel((n, N), generator)).masked_fill(~mask, math.inf)
        tokens = torch.where(mask, sampled, tokens)
        n_mask = torch.floor(n_unknown * (0.0 if s == sampler.T - 1 else math.cos(math.pi / 2 * (s + 1) / sampler.T)))
        mask = confidence.argsort(1).argsort(1) < n_mask.long()[:, None]
    return tokens


@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_gumbel_sampling_draws_exactly_what_the_all_positions_loop_drew(trained, guidance):
    # drawing only the masked positions must not change a single committed sample
    prior = trained[0]
    labels = torch.arange(12) % N_CLASSES
    with torch.no_grad():
        prior.eval()
        want = _reference_gumbel_sample(Sampler(prior=prior), 12, torch.Generator().manual_seed(7), labels, guidance)
        prior.train()
    got = Sampler(prior=prior).sample(12, labels=labels, guidance=guidance, generator=torch.Generator().manual_seed(7))
    assert torch.equal(got, want)


@pytest.mark.parametrize("sampling", ["gumbel", "inverse_cdf"])
def test_each_token_draw_follows_the_softmax(sampling):
    logits = torch.tensor([[2.0, 0.0, -1.0, 1.0, -30.0]]).repeat(40_000, 1).view(4, 10_000, 5)
    mask = torch.ones(4, 10_000, dtype=torch.bool)
    mask[0, :5000] = False  # decided positions are not drawn
    draw, log_p = Sampler(prior=make_prior("token"), sampling=sampling)._draw(logits, mask, torch.Generator().manual_seed(0), None)
    p = logits[0, 0].softmax(-1)
    assert draw.shape == (35_000,) and int(draw.max()) < 4  # a token of probability e-31 is never drawn
    freq = torch.bincount(draw, minlength=5).float() / len(draw)
    assert torch.allclose(freq, p, atol=0.01)
    assert torch.allclose(log_p, p.log()[draw], atol=1e-5)


def test_sampling_mode_is_validated_and_kept_out_of_the_prior_cache_key():
    from tsvq.config import get_config

    with pytest.raises(ValueError, match="sampling"):
        Sampler(prior=make_prior("token"), sampling="topk")
    with pytest.raises(ValueError, match="sampling"):
        get_config("smoke", prior={"sampling": "topk"})
    assert get_config("cpu").prior.sampling == "gumbel"
    assert Sampler(prior=make_prior("token", sampling="inverse_cdf")).sampling == "inverse_cdf"
