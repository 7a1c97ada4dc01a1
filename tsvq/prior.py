"""Stage 2: the MaskGIT prior over stage-1 token indices, and its iterative sampler.

The network (:class:`MaskGIT`) and the decoding procedure (:class:`Sampler`) are separate objects:
the network maps a partly masked token grid to logits, the sampler decides what to unmask when.
Everything here works on token *indices*; turning indices back into series is the tokenizer's job.

Two input variants (DESIGN.md "Stage 2"):

- ``token`` (TimeVQVAE): a learned embedding table of K + 1 rows in the code dimension d (the last
  row is [MASK]), initialised from the stage-1 codebook and followed by ``Linear(d, hidden)``. The
  output is weight-tied to the same table, as in the TimeVQVAE reference implementation:
  ``hidden -> Linear -> GELU -> LayerNorm -> d``, then a dot product with the K code rows plus a
  bias. The dot product is scaled by 1/sqrt(d), like attention scores, so that the first logits
  are of the order of the codebook's scale rather than sqrt(d) times it.
- ``embedding`` (NC-VQVAE): the inputs are codeword vectors from a trainable copy of the stage-1
  codebook (K, d) plus a learned mask vector (d,), followed by ``Linear(d, hidden)``; the output is an
  untied ``Linear(hidden, K)`` head.

Sequence layout: ``[class token, context tokens (optional), tokens]``. The class table has
``n_classes + 1`` rows, the last being the "null" class used for unconditional generation.
Context tokens (the LF tokens when the HF prior of the ``lf_hf`` mode is trained) are always
visible and never predicted.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .config import MASKINGS, SAMPLINGS, PriorConfig

# ---------------------------------------------------------------------------------------------
# masking schedule


def cosine_mask_ratio(t: Tensor | float) -> Tensor | float:
    """Fraction of masked tokens at time t in [0, 1]: cos(pi t / 2), from 1 (all) down to 0."""
    if isinstance(t, Tensor):
        return torch.cos(math.pi * t / 2)
    return math.cos(math.pi * t / 2)


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device=None) -> Tensor:
    """U(0, 1) drawn on the generator's device (generators are device-bound), then moved."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    return u if device is None else u.to(device)


def _gumbel(shape: tuple[int, ...], generator: torch.Generator, device=None) -> Tensor:
    u = _uniform(shape, generator, device).clamp(1e-20, 1 - 1e-7)
    return -torch.log(-torch.log(u))


def random_mask(
    n_batch: int, n_tokens: int, generator: torch.Generator, *, device=None, masking: str = "cosine"
) -> Tensor:
    """MaskGIT training mask: per sequence t ~ U(0, 1), mask round(cos(pi t / 2) N) random positions.

    At least one position is masked so that every sequence contributes to the loss. The expected
    masked fraction is E[cos(pi t / 2)] = 2 / pi. Returns a bool tensor (n_batch, n_tokens).

    ``masking="thesis"`` is the thesis' token prior (an ablation): its schedule is inverted, masking
    round((1 - cos(pi t / 2)) N) positions (expected fraction 1 - 2 / pi, possibly none), because the
    TimeVQVAE code it came from replaced the *unselected* positions by [MASK]. Only the direction differs:
    t stays per sequence and the count rounded (the thesis drew one t per batch and floored the kept
    count), and the random draws are the same in both modes.
    """
    if masking not in MASKINGS:
        raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
    t = _uniform((n_batch,), generator, device)
    if masking == "cosine":
        n_mask = torch.round(cosine_mask_ratio(t) * n_tokens).long().clamp(1, n_tokens)  # (B,)
    else:
        n_mask = torch.round((1 - cosine_mask_ratio(t)) * n_tokens).long().clamp(0, n_tokens)  # (B,)
    # rank of each position in a random permutation: the n_mask lowest ranks are masked
    rank = _uniform((n_batch, n_tokens), generator, device).argsort(dim=1).argsort(dim=1)  # (B, N)
    return rank < n_mask[:, None]


def masked_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy averaged over the masked positions only; unmasked logits play no part.

    logits (B, N, K), targets (B, N) long, mask (B, N) bool.
    """
    if not mask.any():
        raise ValueError("masked_cross_entropy needs at least one masked position")
    return F.cross_entropy(logits[mask], targets[mask])


# ---------------------------------------------------------------------------------------------
# network


class Block(nn.Module):
    """Pre-LN transformer block with bidirectional (unmasked) self-attention."""

    def __init__(self, *, dim: int, heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Linear(ff_mult * dim, dim), nn.Dropout(dropout)
        )
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:  # (B, S, C)
        qkv = self.qkv(self.norm1(x))  # (B, S, 3C)
        q, k, v = rearrange(qkv, "b s (three h c) -> three b h s c", three=3, h=self.heads)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.resid_drop(self.proj(rearrange(y, "b h s c -> b s (h c)")))
        return x + self.ff(self.norm2(x))


class MaskGIT(nn.Module):
    """Bidirectional transformer predicting masked stage-1 tokens from the visible ones and a class.

    ``codebook`` (K, d) is the stage-1 codebook; it only initialises this network's own trainable
    tables (the stage-1 codebook itself is never modified). ``context_codebook`` does the same for
    the context tokens of the ``lf_hf`` HF prior.
    """

    def __init__(
        self,
        *,
        config: PriorConfig,
        n_tokens: int,
        codebook: Tensor,
        n_classes: int,
        n_context_tokens: int = 0,
        context_codebook: Tensor | None = None,
    ):
        super().__init__()
        if config.variant not in ("token", "embedding"):
            raise ValueError(f"prior variant must be 'token' or 'embedding', got {config.variant!r}")
        if config.masking not in MASKINGS:
            raise ValueError(f"prior masking must be one of {MASKINGS}, got {config.masking!r}")
        if codebook.ndim != 2:
            raise ValueError(f"codebook must be (K, d), got shape {tuple(codebook.shape)}")
        if config.hidden_dim % config.heads:
            raise ValueError(f"hidden_dim {config.hidden_dim} is not divisible by heads {config.heads}")
        if n_context_tokens and (context_codebook is None or context_codebook.ndim != 2):
            raise ValueError("n_context_tokens > 0 needs a context_codebook of shape (K_context, d_context)")
        self.config = config
        self.n_tokens = n_tokens
        self.n_codes, code_dim = codebook.shape  # K, d
        self.n_classes = n_classes
        self.null_class = n_classes  # last row of the class table
        self.n_context_tokens = n_context_tokens
        hidden = config.hidden_dim

        self.class_emb = nn.Embedding(n_classes + 1, hidden)
        self.pos_emb = nn.Parameter(torch.zeros(1 + n_context_tokens + n_tokens, hidden))
        codebook = codebook.detach().float().clone()
        if config.variant == "token":
            # rows 0..K-1: the codebook, row K: [MASK]
            self.token_emb = nn.Embedding(self.n_codes + 1, code_dim)
        else:
            self.codewords = nn.Parameter(codebook.clone())  # (K, d), trainable copy
            self.mask_vector = nn.Parameter(torch.zeros(code_dim))  # (d,)
        self.token_in = nn.Linear(code_dim, hidden)
        if n_context_tokens:
            self.context_emb = nn.Embedding(*context_codebook.shape)
            self.context_in = nn.Linear(context_codebook.shape[1], hidden)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(dim=hidden, heads=config.heads, ff_mult=config.ff_mult, dropout=config.dropout)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(hidden)
        if config.variant == "token":
            # weight-tied output: project to the code dimension, score against the K code rows
            self.head = nn.Sequential(nn.Linear(hidden, code_dim), nn.GELU(), nn.LayerNorm(code_dim))
            self.head_bias = nn.Parameter(torch.zeros(self.n_codes))
        else:
            self.head = nn.Linear(hidden, self.n_codes)

        self.apply(self._init_weights)
        nn.init.normal_(self.pos_emb, std=0.02)
        # the code tables start at the stage-1 codebook; mask vectors at the codebook's scale
        scale = codebook.std().clamp_min(1e-3)
        with torch.no_grad():
            if config.variant == "token":
                self.token_emb.weight[: self.n_codes] = codebook
                nn.init.normal_(self.token_emb.weight[self.n_codes], std=float(scale))
            else:
                nn.init.normal_(self.mask_vector, std=float(scale))
            if n_context_tokens:
                self.context_emb.weight.copy_(context_codebook.detach().float())

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def embed_tokens(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """(B, N) indices + (B, N) mask -> (B, N, d); masked positions get the mask embedding."""
        if self.config.variant == "token":
            return self.token_emb(tokens.masked_fill(mask, self.n_codes))
        x = F.embedding(tokens.masked_fill(mask, 0), self.codewords)  # (B, N, d)
        return torch.where(mask[..., None], self.mask_vector.to(x.dtype), x)

    def forward(self, tokens: Tensor, mask: Tensor, labels: Tensor, context: Tensor | None = None) -> Tensor:
        """Logits (B, N, K) over the codes at every token position.

        tokens (B, N) long (values at masked positions are ignored, e.g. -1), mask (B, N) bool,
        labels (B,) long in 0..n_classes (n_classes = null), context (B, N_context) long or None.
        """
        B, N = tokens.shape
        if N != self.n_tokens or mask.shape != tokens.shape or labels.shape != (B,):
            raise ValueError(
                f"expected tokens and mask (B, {self.n_tokens}) and labels (B,), got tokens "
                f"{tuple(tokens.shape)}, mask {tuple(mask.shape)}, labels {tuple(labels.shape)}"
            )
        parts = [self.class_emb(labels)[:, None]]  # (B, 1, C)
        if self.n_context_tokens:
            if context is None or context.shape != (B, self.n_context_tokens):
                got = None if context is None else tuple(context.shape)
                raise ValueError(f"this prior needs context tokens (B, {self.n_context_tokens}), got {got}")
            parts.append(self.context_in(self.context_emb(context)))  # (B, Nc, C)
        elif context is not None:
            raise ValueError("context tokens given to a prior built with n_context_tokens=0")
        parts.append(self.token_in(self.embed_tokens(tokens, mask)))  # (B, N, C)
        x = self.drop(torch.cat(parts, dim=1) + self.pos_emb)  # (B, 1 + Nc + N, C)
        for block in self.blocks:
            x = block(x)
        h = self.norm(x[:, 1 + self.n_context_tokens :])  # (B, N, C)
        if self.config.variant == "token":
            codes = self.token_emb.weight[: self.n_codes]  # (K, d)
            return self.head(h) @ codes.T / math.sqrt(codes.shape[1]) + self.head_bias  # (B, N, K)
        return self.head(h)  # (B, N, K)

    def drop_labels(self, labels: Tensor, p: float, generator: torch.Generator) -> Tensor:
        """Replace each label by the null class with probability p (classifier-free guidance)."""
        drop = _uniform(tuple(labels.shape), generator, labels.device) < p
        return labels.masked_fill(drop, self.null_class)

    def loss(
        self, tokens: Tensor, labels: Tensor, *, generator: torch.Generator, context: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Masked-token cross-entropy of one batch.

        The mask is always drawn from ``generator``, so a validation pass with a freshly seeded
        generator scores the same masks every epoch. Label dropout (``config.p_uncond``) happens in
        training mode only. With ``config.masking == "thesis"`` the mask follows the inverted schedule
        and the cross-entropy is taken over all positions, masked or not (the thesis' token prior).
        """
        masking = self.config.masking
        mask = random_mask(*tokens.shape, generator, device=tokens.device, masking=masking)  # (B, N)
        if self.training and self.config.p_uncond > 0:
            labels = self.drop_labels(labels, self.config.p_uncond, generator)
        logits = self(tokens, mask, labels, context)  # (B, N, K)
        if masking == "thesis":
            loss = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        else:
            loss = masked_cross_entropy(logits, tokens, mask)
        return dict(loss=loss, masked_fraction=mask.float().mean())


# ---------------------------------------------------------------------------------------------
# sampler


class Sampler:
    """MaskGIT iterative decoding with optional classifier-free guidance.

    Start with every unknown position masked; at step s = 0..T-1 sample every masked position,
    score it by log p(sampled) + tau * Gumbel, keep all earlier decisions and the most confident new
    ones, and re-mask the floor(n_unknown * cos(pi/2 * (s+1)/T)) least confident. The last step
    re-masks nothing, so T forward passes fill every position.

    The choice temperature anneals as tau = choice_temperature * (1 - (s+1)/T), the schedule of the
    MaskGIT reference implementation: DESIGN.md writes step/T, and (s+1)/T is the same schedule
    shifted so that the last step ranks by confidence alone.

    ``n_forward_passes`` counts the network calls of the latest :meth:`sample`.
    """

    def __init__(self, *, prior: MaskGIT, T: int | None = None, choice_temperature: float | None = None,
                 sampling: str | None = None):
        self.prior = prior
        self.T = prior.config.T if T is None else T
        if choice_temperature is None:
            choice_temperature = prior.config.choice_temperature
        self.choice_temperature = choice_temperature
        self.sampling = getattr(prior.config, "sampling", "gumbel") if sampling is None else sampling
        if self.T < 1:
            raise ValueError(f"T must be >= 1, got {self.T}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        self.n_forward_passes = 0

    def guided_logits(
        self,
        tokens: Tensor,
        mask: Tensor,
        labels: Tensor | None,
        guidance: float,
        context: Tensor | None = None,
    ) -> Tensor:
        """Logits (B, N, K) for one decoding step.

        labels None: unconditional, the null class in one pass (guidance is ignored).
        guidance == 1: plain conditional sampling, one pass of batch B (the guided formula at
        s = 1 is l_cond itself, so the null half would be wasted work).
        Otherwise classifier-free guidance l_null + guidance * (l_cond - l_null), with the
        conditional and the null halves computed in one forward pass over a doubled batch (2B).
        """
        B = tokens.shape[0]
        self.n_forward_passes += 1
        if labels is None:
            null = torch.full((B,), self.prior.null_class, dtype=torch.long, device=tokens.device)
            return self.prior(tokens, mask, null, context)
        if guidance == 1.0:
            return self.prior(tokens, mask, labels, context)
        null = torch.full_like(labels, self.prior.null_class)
        both = self.prior(
            torch.cat([tokens, tokens]),
            torch.cat([mask, mask]),
            torch.cat([labels, null]),
            None if context is None else torch.cat([context, context]),
        )  # (2B, N, K)
        l_cond, l_null = both[:B], both[B:]
        return l_null + guidance * (l_cond - l_null)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: Tensor | int | None = None,
        guidance: float = 1.0,
        generator: torch.Generator,
        context: Tensor | None = None,
        given: Tensor | None = None,
    ) -> Tensor:
        """Draw n token grids (n, N) long.

        labels: None for unconditional samples, an int for one class, or (n,) long.
        guidance: the classifier-free guidance scale s (0 = unconditional, 1 = conditional).
        given: (n, N) long with -1 where unknown; known entries are returned unchanged.
        context: (n, N_context) long for a prior built with context tokens.
        """
        prior = self.prior
        device = next(prior.parameters()).device
        N, K = prior.n_tokens, prior.n_codes
        if isinstance(labels, int):
            labels = torch.full((n,), labels, dtype=torch.long)
        if labels is not None:
            labels = labels.to(device)
            if labels.shape != (n,) or labels.min() < 0 or labels.max() >= prior.n_classes:
                raise ValueError(f"labels must be (n,) = ({n},) with values in 0..{prior.n_classes - 1}")
        if given is None:
            given = torch.full((n, N), -1, dtype=torch.long)
        given = given.to(device)
        if given.shape != (n, N) or given.min() < -1 or given.max() >= K:
            raise ValueError(f"given must be (n, N) = ({n}, {N}) with values in -1..{K - 1} (-1 = unknown)")
        if context is not None:
            context = context.to(device)

        was_training = prior.training
        prior.eval()
        self.n_forward_passes = 0
        try:
            known = given >= 0  # (n, N), fixed for good
            n_unknown = (~known).sum(dim=1)  # (n,)
            tokens, mask = given.clone(), ~known
            for s in range(self.T):
                logits = self.guided_logits(tokens, mask, labels, guidance, context).float()  # (n, N, K)
                # only the masked positions are drawn: a decided token stays and its logits are not needed
                draw, log_p_masked = self._draw(logits, mask, generator, device)  # (M,) each
                tokens = tokens.masked_scatter(mask, draw)
                log_p = torch.zeros((n, N), device=device).masked_scatter(mask, log_p_masked)
                tau = self.choice_temperature * (1 - (s + 1) / self.T)
                confidence = log_p + tau * _gumbel((n, N), generator, device)
                confidence = confidence.masked_fill(~mask, math.inf)  # decided tokens stay
                ratio = 0.0 if s == self.T - 1 else math.cos(math.pi / 2 * (s + 1) / self.T)
                n_mask = torch.floor(n_unknown * ratio).long()  # (n,)
                rank = confidence.argsort(dim=1).argsort(dim=1)  # 0 = least confident
                mask = rank < n_mask[:, None]
            return tokens
        finally:
            prior.train(was_training)

    def _draw(self, logits: Tensor, mask: Tensor, generator: torch.Generator, device) -> tuple[Tensor, Tensor]:
        """One token from softmax(logits) at every masked position, and its log-probability: (M,) long, (M,).

        "gumbel": Gumbel-max over K uniforms per position. The uniforms of every position are drawn (decided
        ones too), so the generator's stream, and with it every sample, is that of drawing all positions.
        "inverse_cdf": one uniform per masked position against the cumulative probabilities.
        """
        K = logits.shape[-1]
        rows = None if bool(mask.all()) else mask.reshape(-1).nonzero()[:, 0]  # None: every position (step 0)
        picked = logits.reshape(-1, K) if rows is None else logits.reshape(-1, K).index_select(0, rows)  # (M, K)
        if self.sampling == "gumbel":
            u = _uniform(tuple(logits.shape), generator, device).reshape(-1, K)
            u = u if rows is None else u.index_select(0, rows)  # (M, K)
            draw = (picked + u.clamp_(1e-20, 1 - 1e-7).log_().neg_().log_().neg_()).argmax(-1)
            return draw, picked.log_softmax(-1).gather(-1, draw[:, None])[:, 0]
        probs = picked.softmax(-1)
        cdf = probs.cumsum(-1)
        u = _uniform((len(picked), 1), generator, device) * cdf[:, -1:]
        draw = torch.searchsorted(cdf, u, right=True)[:, 0].clamp_(max=K - 1)
        return draw, probs.gather(-1, draw[:, None])[:, 0].log()
