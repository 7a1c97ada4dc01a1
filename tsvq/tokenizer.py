"""Stage 1: the VQ-VAE tokenizer in the time-frequency domain (TimeVQVAE; NC-VQVAE's backbone).

x (B, 1, L) --STFT--> u (B, 2, F=5, W) --encoder--> z (B, d, F_b, w) --VQ--> z_q --decoder--> û --iSTFT--> x̂.
The encoder downsamples only the time axis, so a token is one (frequency row, time segment) cell.
Band mode ``single`` tokenizes all frequency rows at once (the thesis); ``lf_hf`` (TimeVQVAE 2023) gives the
low-frequency row 0 and the high-frequency rows 1.. their own encoder, codebook and decoder, and the two
band reconstructions sum to x because the STFT is linear.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .config import TokenizerConfig
from .utils import full_precision


# ----------------------------------------------------------------------------------------------- STFT


class STFT(nn.Module):
    """Hann-window STFT with real/imag stacked as channels, and its exact inverse for length ``length``."""

    def __init__(self, *, n_fft: int, length: int):
        super().__init__()
        self.n_fft, self.hop, self.length = n_fft, n_fft // 4, length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.n_freq = n_fft // 2 + 1
        self.n_frames = 1 + length // self.hop  # centred frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, L) -> (B, 2, F, W)
        spec = torch.stft(x[:, 0], self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return torch.stack([spec.real, spec.imag], dim=1)

    def inverse(self, u: torch.Tensor) -> torch.Tensor:  # (B, 2, F, W) -> (B, 1, L)
        spec = torch.complex(u[:, 0].float(), u[:, 1].float())
        x = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True, length=self.length)
        return x[:, None]


# ----------------------------------------------------------------------------------------------- conv nets


def _n_downsamples(width: int, target: int) -> int:
    """How many stride-2 steps (kernel 4, padding 1) bring ``width`` closest to ``target``."""
    best, w, n = (abs(width - target), 0), width, 0
    while w >= 4:
        w, n = (w - 2) // 2 + 1, n + 1
        best = min(best, (abs(w - target), n))
    return best[1]


def _downsampled(width: int, n: int) -> int:
    for _ in range(n):
        width = (width - 2) // 2 + 1
    return width


class ResBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm2d(dim), nn.LeakyReLU(0.2), nn.Conv2d(dim, dim, 3, padding=1),
            nn.BatchNorm2d(dim), nn.LeakyReLU(0.2), nn.Conv2d(dim, dim, 1),
        )

    def forward(self, x):
        return x + self.net(x)


class Encoder(nn.Module):
    """(B, 2, F, W) -> (B, d, F, w): stride (1, 2) convs halve only the time axis."""

    def __init__(self, *, dim: int, n_down: int, n_res: int):
        super().__init__()
        layers, c_in = [], 2
        for _ in range(n_down):
            layers += [nn.Conv2d(c_in, dim, (3, 4), stride=(1, 2), padding=(1, 1)), nn.BatchNorm2d(dim), nn.LeakyReLU(0.2)]
            c_in = dim
        if n_down == 0:
            layers += [nn.Conv2d(c_in, dim, 3, padding=1)]
        layers += [ResBlock(dim) for _ in range(n_res)]
        layers += [nn.BatchNorm2d(dim), nn.LeakyReLU(0.2), nn.Conv2d(dim, dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, u):
        return self.net(u)


class Decoder(nn.Module):
    """(B, d, F, w) -> (B, 2, F, W): mirror of the encoder, resized onto the exact STFT grid at the end."""

    def __init__(self, *, dim: int, n_down: int, n_res: int, out_hw: tuple[int, int]):
        super().__init__()
        self.out_hw = out_hw
        layers = [nn.Conv2d(dim, dim, 3, padding=1)] + [ResBlock(dim) for _ in range(n_res)]
        for _ in range(n_down):
            layers += [nn.BatchNorm2d(dim), nn.LeakyReLU(0.2), nn.ConvTranspose2d(dim, dim, (3, 4), stride=(1, 2), padding=(1, 1))]
        self.net = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(dim), nn.LeakyReLU(0.2), nn.Conv2d(dim, 2, 3, padding=1))

    def forward(self, z):
        h = self.net(z)
        h = F.interpolate(h, size=self.out_hw, mode="bilinear", align_corners=False)
        return self.head(h)


# ----------------------------------------------------------------------------------------------- quantiser


class VectorQuantizer(nn.Module):
    """Nearest-code quantiser with EMA codebook updates (training mode only) and a straight-through gradient.

    A code whose EMA cluster size falls below ``dead_code_threshold`` is re-seeded with a random latent of
    the batch (``TokenizerConfig.dead_code_threshold``; 0 never re-seeds, the plain EMA VQ of the thesis).
    """

    def __init__(self, *, codebook_size: int, dim: int, decay: float, eps: float, commitment_weight: float,
                 dead_code_threshold: float = 1.0):
        super().__init__()
        self.K, self.decay, self.eps, self.commitment_weight = codebook_size, decay, eps, commitment_weight
        self.dead_code_threshold = dead_code_threshold
        embed = torch.randn(codebook_size, dim)
        self.register_buffer("embed", embed)  # (K, d)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_avg", embed.clone())

    def forward(self, z: torch.Tensor):
        """z (B, d, H, W) -> z_q (B, d, H, W), indices (B, H, W), commitment loss, perplexity."""
        with full_precision(z):  # nearest-code search and EMA updates in float32, also under mixed precision
            return self._quantize(z.float())

    def _quantize(self, z: torch.Tensor):
        B, d, H, W = z.shape
        flat = rearrange(z, "b d h w -> (b h w) d")
        idx = self.nearest(flat)
        onehot = F.one_hot(idx, self.K).type(flat.dtype)  # (N, K)
        if self.training:
            self._ema_update(flat.detach(), onehot)
        q = self.embed[idx]
        commit = F.mse_loss(flat, q.detach()) * self.commitment_weight
        q = flat + (q - flat).detach()  # straight-through: gradients of q go to the encoder
        probs = onehot.mean(0)
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        z_q = rearrange(q, "(b h w) d -> b d h w", b=B, h=H, w=W)
        return z_q, idx.view(B, H, W), commit, perplexity

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:  # (N, d) -> (N,)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        return dist.argmin(1)

    @torch.no_grad()
    def _ema_update(self, flat, onehot):
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        size = (self.cluster_size + self.eps) / (n + self.K * self.eps) * n  # Laplace smoothing
        self.embed.copy_(self.embed_avg / size[:, None])
        # A code that (almost) nobody picks gets a random latent of this batch, so the codebook stays in use.
        dead = self.cluster_size < self.dead_code_threshold
        if dead.any():
            pick = torch.randint(0, len(flat), (int(dead.sum()),), device=flat.device)
            self.embed[dead] = flat[pick]
            self.embed_avg[dead] = flat[pick]
            self.cluster_size[dead] = 1.0

    @torch.no_grad()
    def init_from(self, latents: torch.Tensor, generator: torch.Generator) -> None:
        """Start the codebook from K random latents (N, d) of the data instead of N(0, I) noise."""
        pick = torch.randperm(len(latents), generator=generator)[: self.K].to(latents.device)
        if len(pick) < self.K:
            pick = pick.repeat(-(-self.K // len(pick)))[: self.K]
        self.embed.copy_(latents[pick])
        self.embed_avg.copy_(latents[pick])
        self.cluster_size.fill_(1.0)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:  # (B, H, W) -> (B, d, H, W)
        return rearrange(self.embed[idx], "b h w d -> b d h w")


# ----------------------------------------------------------------------------------------------- tokenizer


@dataclass
class TokenizerOutput:
    x_hat: torch.Tensor  # (B, 1, L)
    loss: torch.Tensor  # time MSE + STFT MSE + commitment
    time_mse: torch.Tensor
    stft_mse: torch.Tensor
    commitment: torch.Tensor
    perplexity: dict[str, torch.Tensor]
    z: dict[str, torch.Tensor]  # unquantised latents per band (B, d, F_b, w)
    z_q: dict[str, torch.Tensor]  # quantised latents per band
    indices: dict[str, torch.Tensor]  # (B, F_b, w)


class Band(nn.Module):
    def __init__(self, *, rows: tuple[int, int], width: int, target: int, cfg: TokenizerConfig):
        super().__init__()
        self.rows = rows
        n_down = _n_downsamples(width, target)
        self.grid = (rows[1] - rows[0], _downsampled(width, n_down))  # (F_b, w): the token grid
        d = cfg.hidden_dim
        self.encoder = Encoder(dim=d, n_down=n_down, n_res=cfg.n_res_blocks)
        self.vq = VectorQuantizer(codebook_size=cfg.codebook_size, dim=d, decay=cfg.ema_decay, eps=cfg.ema_eps,
                                  commitment_weight=cfg.commitment_weight, dead_code_threshold=cfg.dead_code_threshold)
        self.decoder = Decoder(dim=d, n_down=n_down, n_res=cfg.n_res_blocks, out_hw=(self.grid[0], width))


class Tokenizer(nn.Module):
    """The stage-1 VQ-VAE. ``Tokenizer(config=..., length=L)``; token geometry is fixed at construction."""

    def __init__(self, *, config: TokenizerConfig, length: int):
        super().__init__()
        self.config, self.length = config, length
        self.stft = STFT(n_fft=config.n_fft, length=length)
        Fq, W = self.stft.n_freq, self.stft.n_frames
        if config.bands == "single":
            specs = {"all": ((0, Fq), config.downsampled_width)}
        else:
            specs = {"lf": ((0, 1), config.downsampled_width), "hf": ((1, Fq), config.hf_downsampled_width)}
        self.bands = nn.ModuleDict({k: Band(rows=r, width=W, target=t, cfg=config) for k, (r, t) in specs.items()})

    # --- geometry
    @property
    def band_names(self) -> list[str]:
        return list(self.bands.keys())

    def grid(self, band: str) -> tuple[int, int]:
        return self.bands[band].grid

    def n_tokens(self, band: str) -> int:
        h, w = self.grid(band)
        return h * w

    def codebook(self, band: str) -> torch.Tensor:  # (K, d)
        return self.bands[band].vq.embed

    # --- pieces
    def band_stft(self, u: torch.Tensor, band: str) -> torch.Tensor:
        """Zero every STFT row outside the band (B, 2, F, W); its iSTFT is the band's part of x."""
        r0, r1 = self.bands[band].rows
        out = torch.zeros_like(u)
        out[:, :, r0:r1] = u[:, :, r0:r1]
        return out

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unquantised latents per band, each (B, d, F_b, w)."""
        u = self.stft(x)
        return {k: b.encoder(u[:, :, slice(*b.rows)]) for k, b in self.bands.items()}

    def quantize(self, z: dict[str, torch.Tensor]):
        return {k: self.bands[k].vq(z[k]) for k in z}

    def decode_bands(self, z: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-band STFT reconstructions on the full grid (B, 2, F, W), zero outside the band."""
        out = {}
        for k, zk in z.items():
            b = self.bands[k]
            u_b = b.decoder(zk)
            full = torch.zeros(u_b.shape[0], 2, self.stft.n_freq, self.stft.n_frames, device=u_b.device, dtype=u_b.dtype)
            full[:, :, slice(*b.rows)] = u_b
            out[k] = full
        return out

    def decode(self, z: dict[str, torch.Tensor]) -> torch.Tensor:  # -> (B, 1, L)
        return sum(self.stft.inverse(u) for u in self.decode_bands(z).values())

    def reconstruction_losses(self, x: torch.Tensor, z: dict[str, torch.Tensor]):
        """Decode ``z`` and compare each band with its part of x: (x_hat, time MSE, STFT MSE)."""
        u = self.stft(x)
        u_hat = self.decode_bands(z)
        time_mse = stft_mse = 0.0
        x_hat = 0.0
        for k, uh in u_hat.items():
            u_k = self.band_stft(u, k)
            xk_hat = self.stft.inverse(uh)
            time_mse = time_mse + F.mse_loss(xk_hat, self.stft.inverse(u_k))
            r0, r1 = self.bands[k].rows
            stft_mse = stft_mse + F.mse_loss(uh[:, :, r0:r1], u_k[:, :, r0:r1])
            x_hat = x_hat + xk_hat
        return x_hat, time_mse, stft_mse

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        z = self.encode(x)
        q = self.quantize(z)
        z_q = {k: v[0] for k, v in q.items()}
        x_hat, time_mse, stft_mse = self.reconstruction_losses(x, z_q)
        commitment = sum(v[2] for v in q.values())
        return TokenizerOutput(
            x_hat=x_hat, loss=time_mse + stft_mse + commitment, time_mse=time_mse, stft_mse=stft_mse,
            commitment=commitment, perplexity={k: v[3] for k, v in q.items()}, z=z, z_q=z_q,
            indices={k: v[1] for k, v in q.items()},
        )

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Data-dependent codebook start: each band's codes become random latents of ``x`` (B, 1, L).

        Used when ``TokenizerConfig.codebook_init == "data"``; the encoder pass runs in the model's current
        mode (training mode during training, so it also moves the BatchNorm running statistics).
        """
        for k, z in self.encode(x).items():
            self.bands[k].vq.init_from(rearrange(z, "b d h w -> (b h w) d"), generator)

    # --- tokens
    @torch.no_grad()
    def tokenize(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Token indices per band, flattened row-major over (frequency, time): (B, F_b * w) long."""
        z = self.encode(x)
        return {k: self.bands[k].vq(zk)[1].flatten(1) for k, zk in z.items()}

    @torch.no_grad()
    def detokenize(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Token indices per band (B, F_b * w) -> series (B, 1, L)."""
        z = {}
        for k, t in tokens.items():
            h, w = self.grid(k)
            z[k] = self.bands[k].vq.lookup(t.view(-1, h, w))
        return self.decode(z)

    @torch.no_grad()
    def pooled_latents(self, x: torch.Tensor, *, quantised: bool = True) -> torch.Tensor:
        """The probe representation: z_q average-pooled over the token grid, bands concatenated (B, d*n_bands).

        ``quantised=False`` pools the encoder's output before quantisation instead (a diagnostic).
        """
        z = self.encode(x)
        if quantised:
            z = {k: v[0] for k, v in self.quantize(z).items()}
        return torch.cat([z[k].mean(dim=(2, 3)) for k in self.band_names], dim=1)
