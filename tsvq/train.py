"""Training loops: a small resumable epoch loop shared by the stages, and stage-1 (tokenizer ± SSL) training.

Every run lives in a cache folder keyed by the data and exactly the settings that change the trained weights
(:func:`tokenizer_key`, :func:`prior_key`, ``tsvq.utils.cache_dir``): ``last.pt`` is the resumable state
(weights, optimiser, schedule, RNG states, history) written every ``ckpt_every`` epochs, and the final artefact
is written once training ends, so nothing is trained twice. Every checkpoint is written atomically; one folder
is trained by one process at a time (a lock file), and a second one waits and then loads the result.
"""
from __future__ import annotations

import json
import os
import random
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .config import KEYLESS_DEFAULTS, Config, TrainConfig, from_dict, to_dict
from .data import UCRDataset
from .tokenizer import Tokenizer
from .utils import atomic_save, autocast, cache_dir, default_device, file_lock, progress_bar, seed_everything


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or belongs to other settings; the message names the file."""


def _rng_state(gen: torch.Generator) -> dict:
    """Every random stream a run draws from, as tensors and numbers (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {"torch": torch.get_rng_state(), "gen": gen.get_state(),
            "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2]),
            "python": torch.tensor(py_state, dtype=torch.int64), "python_version": py_version}


def _set_rng_state(state: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["gen"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"]), None))


def n_epochs(train_cfg: TrainConfig, n_train: int) -> int:
    """Epochs to run: ``epochs``, or more when a small dataset needs them to reach ``min_steps`` steps, or
    fewer when a large one reaches ``max_steps`` (if set) before: the fewest whole epochs that take that many."""
    steps_per_epoch = max(1, -(-n_train // train_cfg.batch_size))
    epochs = max(train_cfg.epochs, -(-train_cfg.min_steps // steps_per_epoch))
    if train_cfg.max_steps:
        epochs = min(epochs, max(1, -(-train_cfg.max_steps // steps_per_epoch)))
    return epochs


def fit(
    *,
    folder: Path,
    modules: dict[str, nn.Module],
    train_cfg: TrainConfig,
    n_train: int,
    step: Callable[[torch.Tensor, torch.Generator], dict[str, torch.Tensor]],
    validate: Callable[[], dict[str, float]],
    seed: int,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    desc: str = "train",
    keep_best: str | None = None,
    tag: str = "",
) -> list[dict]:
    """Resumable loop: AdamW + per-step cosine schedule over :func:`n_epochs` epochs; returns the history
    (one row per epoch: losses, validation metrics, the epoch's wall-clock seconds and the device type).

    ``step(batch_index, generator)`` returns a dict of losses whose "loss" entry is minimised.
    ``stop_after_epoch`` ends the run early after saving a checkpoint (used to test resumption).
    ``keep_best`` (a history column, e.g. "val_loss"): keep the module states of the validated epoch with the
    lowest value (part of ``last.pt``) and load them into ``modules`` once the run is complete.
    ``tag`` identifies the run: a ``last.pt`` with another tag, or one that cannot be read, is moved aside and
    training starts over.
    ``train_cfg.precision == "bf16"`` runs each training step under bfloat16 autocast. With ``keep_best`` and
    ``train_cfg.patience > 0`` the run stops once its best validated epoch lies more than ``patience`` × the
    planned epochs behind (the stop is part of the checkpoint, so a resumed run stays stopped).
    """
    gen = seed_everything(seed)
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    steps_per_epoch = max(1, -(-n_train // train_cfg.batch_size))
    epochs = n_epochs(train_cfg, n_train)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    history, start, best, stopped = [], 0, None, False  # best: module states of the best epoch so far
    last = folder / "last.pt"
    state = _read_last(last, tag) if last.exists() else None
    if state is not None:
        try:
            for k, m in modules.items():
                m.load_state_dict(state["modules"][k])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            _set_rng_state(state["rng"], gen)
            history, start, best = state["history"], state["epoch"], state.get("best")
            stopped = bool(state.get("stopped", False))
        except Exception as e:
            raise CheckpointError(f"{last} does not fit this run ({_one_line(e)}); delete it to start over") from e

    def save(epoch):
        atomic_save({"modules": {k: m.state_dict() for k, m in modules.items()}, "opt": opt.state_dict(),
                     "sched": sched.state_dict(), "rng": _rng_state(gen), "history": history, "epoch": epoch,
                     "best": best, "stopped": stopped, "tag": tag}, last)

    device = params[0].device
    wait = train_cfg.patience * epochs if keep_best else 0.0
    bar = progress_bar(range(start, start if stopped else epochs), desc=desc, disable=not progress, initial=start,
                       total=epochs, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        for m in modules.values():
            m.train()
        perm = torch.randperm(n_train, generator=gen)
        sums: dict[str, float] = {}
        for i in range(steps_per_epoch):
            idx = perm[i * train_cfg.batch_size:(i + 1) * train_cfg.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            with autocast(train_cfg.precision, device):
                losses = step(idx, gen)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt.step()
            sched.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / steps_per_epoch
        row = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0], **{f"train_{k}": v for k, v in sums.items()}}
        if (epoch + 1) % train_cfg.val_every == 0 or epoch + 1 == epochs:
            for m in modules.values():
                m.eval()
            row.update({f"val_{k}": v for k, v in validate().items()})
        row["seconds"] = time.perf_counter() - t0
        row["device"] = params[0].device.type
        history.append(row)
        if keep_best and best_row(history, keep_best) is row:
            best = {k: {n: t.detach().clone() for n, t in m.state_dict().items()} for k, m in modules.items()}
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k in ("train_loss", "val_loss", "val_time_mse")},
                        refresh=False)
        if wait and keep_best in row:
            stopped = epoch + 1 - best_row(history, keep_best)["epoch"] > wait
        done = epoch + 1 == epochs or stopped
        if (epoch + 1) % train_cfg.ckpt_every == 0 or done or epoch + 1 == stop_after_epoch:
            save(epoch + 1)
        if epoch + 1 == stop_after_epoch and not done or stopped:
            break
    bar.close()
    if keep_best and best is not None and history and (history[-1]["epoch"] == epochs or stopped):
        for k, m in modules.items():
            m.load_state_dict(best[k])
    return history


def best_row(history: list[dict], key: str = "val_loss") -> dict | None:
    """The first history row with the lowest ``key`` (rows without it are skipped), or None."""
    best = None
    for row in history:
        v = row.get(key)
        if v is not None and (best is None or v < best[key]):
            best = row
    return best


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _read_last(last: Path, tag: str) -> dict | None:
    """The resumable state in ``last``, or None after moving an unreadable or foreign one aside (with a warning)."""
    try:
        state = torch.load(last, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "epoch" not in state:
            raise ValueError("not a resumable checkpoint")
        if state.get("tag", tag) != tag:
            raise ValueError("written for other settings")
        return state
    except Exception as e:
        aside = last.with_name(f"{last.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.replace(last, aside)
        warnings.warn(f"{last} could not be resumed ({_one_line(e)}); moved it to {aside.name}, training starts over",
                      stacklevel=3)
        return None


def _read_final(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path} ({_one_line(e)}); delete it to retrain") from e


def _key_text(key: tuple) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _check_request(path: Path, state: dict, key: tuple, rebuilt_key: Callable[[], tuple]) -> None:
    """Refuse a final checkpoint written for another key (settings, data or seed) than the requested one."""
    stored = state.get("key")
    if stored is None:  # written before keys were stored: compare what it records
        stored = _key_text(rebuilt_key())
    want, got = dict(json.loads(_key_text(key))), dict(json.loads(stored))
    differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    if differ:
        raise CheckpointError(f"{path} holds a model for other settings (differs in {', '.join(differ)}); "
                              "delete it to retrain")


# ----------------------------------------------------------------------------------------------- stage 1


def _fields(obj, drop=()) -> dict:
    values = {f.name: getattr(obj, f.name) for f in fields(obj) if f.name not in drop}
    return {k: v for k, v in values.items() if not (k in KEYLESS_DEFAULTS and v == KEYLESS_DEFAULTS[k])}


def _train_fields(train_cfg: TrainConfig, n_train: int) -> dict:
    """What of a TrainConfig changes the weights: ``ckpt_every`` does not; ``epochs``, ``min_steps`` and
    ``max_steps`` only through the number of epochs run."""
    return {"epochs": n_epochs(train_cfg, n_train),
            **_fields(train_cfg, drop=("epochs", "min_steps", "max_steps", "ckpt_every"))}


def tokenizer_key(ds: UCRDataset, cfg: Config, seed: int) -> tuple:
    """The cache key of a stage-1 tokenizer: (name, value) pairs of the data (its fingerprint included), the seed
    and exactly the settings that change its weights (the SSL section only when SSL is on, and then only the
    parameters of its method and augmentation)."""
    from .augment import augment_params
    from .ssl import THESIS_WEIGHTS, loss_params

    m = ds.meta
    tok = _fields(cfg.tokenizer, drop=("hf_downsampled_width",) if cfg.tokenizer.bands == "single" else ())
    ssl: str | dict = "none"
    if cfg.ssl.method != "none":
        weight = cfg.ssl.weight if cfg.ssl.weight is not None else THESIS_WEIGHTS[cfg.ssl.method]
        s = cfg.ssl
        ssl = {"method": s.method, "augmentation": s.augmentation, "aug_recon_weight": s.aug_recon_weight,
               "proj_dim": s.proj_dim, "weight": weight, **loss_params(s), **augment_params(s)}
    return (("dataset", m.name), ("length", m.length), ("n_train", m.n_train), ("n_val", m.n_val),
            ("split_seed", m.split_seed), ("fingerprint", m.fingerprint), ("seed", seed), ("tokenizer", tok),
            ("ssl", ssl), ("stage1", _train_fields(cfg.stage1, m.n_train)))


def prior_key(ds: UCRDataset, cfg: Config, seed: int) -> tuple:
    """The cache key of a stage-2 prior: its tokenizer's key plus the prior's architecture and training (incl.
    ``masking`` and ``val_every``, which picks the best epoch), without the sampler's ``T``,
    ``choice_temperature`` and ``sampling``."""
    prior = _fields(cfg.prior, drop=("T", "choice_temperature", "sampling"))
    return (*tokenizer_key(ds, cfg, seed), ("prior", prior), ("stage2", _train_fields(cfg.stage2, ds.meta.n_train)))


tokenizer_cache_key = tokenizer_key  # the earlier name


@dataclass
class TrainedTokenizer:
    model: Tokenizer
    history: list[dict]
    path: Path
    config: Config


@torch.no_grad()
def evaluate_reconstruction(model: Tokenizer, x: np.ndarray, *, device=None, batch_size: int = 512) -> dict[str, float]:
    """Time-domain MSE on normalised data, STFT MSE and codebook perplexity over a whole split, in eval mode."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    n, tm, sm, counts = len(x), 0.0, 0.0, {}
    for i in range(0, n, batch_size):
        xb = torch.as_tensor(x[i:i + batch_size], device=device)
        out = model(xb)
        tm += float(out.time_mse) * len(xb) / n
        sm += float(out.stft_mse) * len(xb) / n
        for k, idx in out.indices.items():
            c = torch.bincount(idx.flatten(), minlength=model.config.codebook_size).float().cpu()
            counts[k] = counts.get(k, 0) + c
    model.train(was_training)
    res = {"time_mse": tm, "stft_mse": sm}
    for k, c in counts.items():
        p = c / c.sum()
        res[f"perplexity_{k}" if len(counts) > 1 else "perplexity"] = float(torch.exp(-(p * torch.log(p + 1e-10)).sum()))
        res[f"usage_{k}" if len(counts) > 1 else "usage"] = int((c > 0).sum())
    return res


def train_seconds(history: list[dict]) -> float:
    """Wall-clock training time of a run from its history, also for a model loaded from the cache."""
    return round(sum(h.get("seconds", 0.0) for h in history), 1)


def stage1_losses(model: Tokenizer, x: torch.Tensor, cfg: Config, gen: torch.Generator, *,
                  ssl_head: nn.Module | None = None, ssl_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Losses of one stage-1 batch; "loss" is the total that is minimised.

    Without an SSL head this is the VQ-VAE loss. With one, the NC-VQVAE two-branch loss: the
    augmented view (drawn from ``gen``) is encoded without quantisation and reconstructed with weight
    ``cfg.ssl.aug_recon_weight``, and the SSL loss ties the quantised original to it.
    """
    out = model(x)
    losses = {"loss": out.loss, "time_mse": out.time_mse, "stft_mse": out.stft_mse, "commitment": out.commitment}
    if ssl_head is not None:
        from .augment import augment, augment_params

        x_aug = augment(x, cfg.ssl.augmentation, gen, **augment_params(cfg.ssl))
        z_aug = model.encode(x_aug)  # unquantised branch B
        _, tm_a, sm_a = model.reconstruction_losses(x_aug, z_aug)
        ssl = ssl_head(out.z_q["all"], z_aug["all"])["loss"]
        losses["aug_recon"] = tm_a + sm_a
        losses["ssl"] = ssl
        losses["loss"] = out.loss + cfg.ssl.aug_recon_weight * losses["aug_recon"] + ssl_weight * ssl
    return losses


def train_tokenizer(
    ds: UCRDataset,
    cfg: Config,
    *,
    seed: int = 0,
    device=None,
    progress: bool = True,
    use_cache: bool = True,
    stop_after_epoch: int | None = None,
) -> TrainedTokenizer:
    """Train the stage-1 tokenizer (with the NC-VQVAE SSL branch when ``cfg.ssl.method != 'none'``), or load it
    from the cache (refused with a :class:`CheckpointError` if the cached file is unreadable or for other settings)."""
    device = torch.device(device) if device is not None else default_device()
    key = tokenizer_key(ds, cfg, seed)
    folder = cache_dir("tokenizer", *key)
    final = folder / "tokenizer.pt"
    return _load_or_train(final, use_cache, lambda: _cached_tokenizer(final, ds, cfg, seed, key, device),
                          lambda: _train_tokenizer(ds, cfg, seed=seed, device=device, progress=progress, folder=folder,
                                                   key=key, stop_after_epoch=stop_after_epoch))


def _load_or_train(final: Path, use_cache: bool, load: Callable, train: Callable):
    """``load()`` when ``final`` exists, else ``train()`` under the folder's lock: a second process asking
    for a model that is being trained waits, then loads it."""
    if use_cache and final.exists():
        return load()
    with file_lock(final.parent / "lock"):
        if use_cache and final.exists():
            return load()
        return train()


def _cached_tokenizer(final: Path, ds: UCRDataset, cfg: Config, seed: int, key: tuple, device) -> TrainedTokenizer:
    state = _read_final(final)
    _check_request(final, state, key, lambda: tokenizer_key(ds, from_dict(state["config"]), state["seed"]))
    model, history, _ = load_tokenizer(final, device=device, state=state)
    return TrainedTokenizer(model, history, final, cfg)


def _train_tokenizer(ds, cfg, *, seed, device, progress, folder, key, stop_after_epoch) -> TrainedTokenizer:
    final = folder / "tokenizer.pt"
    seed_everything(seed)
    model = Tokenizer(config=cfg.tokenizer, length=ds.meta.length).to(device)
    modules: dict[str, nn.Module] = {"tokenizer": model}
    ssl_head, ssl_weight = None, 0.0
    if cfg.ssl.method != "none":
        from .ssl import THESIS_WEIGHTS, build_ssl_head, loss_params

        if cfg.tokenizer.bands != "single":
            raise ValueError("the SSL branch is defined for the single-band tokenizer (bands='single')")
        ssl_head = build_ssl_head(cfg.ssl.method, latent_dim=cfg.tokenizer.hidden_dim, proj_dim=cfg.ssl.proj_dim,
                                  loss_params=loss_params(cfg.ssl)).to(device)
        modules["ssl_head"] = ssl_head
        ssl_weight = cfg.ssl.weight if cfg.ssl.weight is not None else THESIS_WEIGHTS[cfg.ssl.method]
    x_train = torch.as_tensor(ds.x_train, device=device)
    if cfg.tokenizer.codebook_init == "data":
        model.init_codebooks(x_train[: cfg.stage1.batch_size], torch.Generator().manual_seed(seed))

    def step(idx, gen):
        return stage1_losses(model, x_train[idx.to(device)], cfg, gen, ssl_head=ssl_head, ssl_weight=ssl_weight)

    def validate():
        return evaluate_reconstruction(model, ds.x_val, device=device)

    name = "naive" if cfg.ssl.method == "none" else f"{cfg.ssl.method}-{cfg.ssl.augmentation}"
    history = fit(folder=folder, modules=modules, train_cfg=cfg.stage1, n_train=len(ds.x_train), step=step,
                  validate=validate, seed=seed, progress=progress, stop_after_epoch=stop_after_epoch,
                  desc=f"stage 1 {ds.meta.name} {name} seed {seed}", tag=_key_text(key))
    model.eval()
    if stop_after_epoch is None or stop_after_epoch >= n_epochs(cfg.stage1, len(ds.x_train)):
        # The SSL head is discarded: the saved tokenizer is the VQ-VAE alone.
        atomic_save({"config": to_dict(cfg), "length": ds.meta.length, "state_dict": model.state_dict(),
                     "history": history, "dataset": ds.meta.name, "seed": seed, "fingerprint": ds.meta.fingerprint,
                     "key": _key_text(key)}, final)
        (folder / "last.pt").unlink(missing_ok=True)
    return TrainedTokenizer(model, history, final, cfg)


def load_tokenizer(path, *, device=None, state: dict | None = None) -> tuple[Tokenizer, list[dict], Config]:
    """Rebuild a tokenizer from its checkpoint alone (config + length + weights), in eval mode.

    Raises :class:`CheckpointError` (naming the file) when it cannot be read or rebuilt.
    """
    state = _read_final(Path(path)) if state is None else state
    try:
        cfg = from_dict(state["config"])
        model = Tokenizer(config=cfg.tokenizer, length=state["length"])
        model.load_state_dict(state["state_dict"])
    except Exception as e:
        raise CheckpointError(f"cannot rebuild a tokenizer from {path} ({_one_line(e)}); delete it to retrain") from e
    model.to(device or default_device()).eval()
    return model, state["history"], cfg


# ----------------------------------------------------------------------------------------------- stage 2


@dataclass
class TrainedPrior:
    """A frozen tokenizer with its MaskGIT prior(s): one per band, LF before HF in ``lf_hf`` mode."""

    tokenizer: Tokenizer
    priors: dict[str, nn.Module]
    history: list[dict]
    path: Path
    config: Config
    mean: float  # data scaling, to return samples in the original scale
    std: float
    best_epoch: int | None = None  # the epoch (1-based) whose weights these are: the lowest VAL loss
    best_val_loss: float | None = None

    @property
    def device(self) -> torch.device:
        return next(self.tokenizer.parameters()).device

    @torch.no_grad()
    def sample(self, n: int, *, labels=None, guidance: float = 1.0, seed: int = 0, batch_size: int = 256) -> dict:
        """``n`` samples: unconditional (labels None), one class (int) or per-sample labels (n,).

        Returns tokens per band (n, N_b), ``x`` (n, 1, L) normalised as the training data, and ``x_raw`` in the
        data's original scale.
        """
        from .prior import Sampler

        gen = torch.Generator().manual_seed(seed)
        if isinstance(labels, (int, np.integer)):
            labels = torch.full((n,), int(labels), dtype=torch.long)
        elif labels is not None:
            labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        tokens = {b: [] for b in self.priors}
        xs = []
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            lab = None if labels is None else labels[i:i + m]
            batch, context = {}, None
            for b, prior in self.priors.items():
                batch[b] = Sampler(prior=prior).sample(m, labels=lab, guidance=guidance, generator=gen, context=context)
                context = batch[b]  # the HF prior is conditioned on the LF tokens just drawn
                tokens[b].append(batch[b].cpu())
            xs.append(self.tokenizer.detokenize(batch).cpu())
        x = torch.cat(xs).numpy()
        return {"tokens": {b: torch.cat(t).numpy() for b, t in tokens.items()}, "x": x,
                "x_raw": x * self.std + self.mean}


@torch.no_grad()
def _tokens(model: Tokenizer, x: np.ndarray, device, batch_size: int = 512) -> dict[str, torch.Tensor]:
    model.eval()
    parts = [model.tokenize(torch.as_tensor(x[i:i + batch_size], device=device)) for i in range(0, len(x), batch_size)]
    return {b: torch.cat([p[b] for p in parts]) for b in model.band_names}


def _build_priors(tokenizer: Tokenizer, cfg: Config, n_classes: int) -> dict[str, nn.Module]:
    from .prior import MaskGIT

    priors, prev = {}, None
    for b in tokenizer.band_names:  # "all", or "lf" then "hf"
        priors[b] = MaskGIT(config=cfg.prior, n_tokens=tokenizer.n_tokens(b), codebook=tokenizer.codebook(b).detach().cpu().clone(),
                            n_classes=n_classes, n_context_tokens=0 if prev is None else tokenizer.n_tokens(prev),
                            context_codebook=None if prev is None else tokenizer.codebook(prev).detach().cpu().clone())
        prev = b
    return priors


def prior_val_loss(priors: dict[str, nn.Module], tokens: dict[str, torch.Tensor], labels: torch.Tensor, *,
                   seed: int = 1234, repeats: int = 4, batch_size: int = 512) -> dict[str, float]:
    """Masked-token cross-entropy on held-out tokens, with masks from a fixed seed (comparable across epochs)."""
    gen = torch.Generator().manual_seed(seed)
    res, prev = {}, None
    with torch.no_grad():
        for b, prior in priors.items():
            prior.eval()
            total, count = 0.0, 0
            for _ in range(repeats):
                for i in range(0, len(labels), batch_size):
                    ctx = None if prev is None else tokens[prev][i:i + batch_size]
                    t = tokens[b][i:i + batch_size]
                    total += float(prior.loss(t, labels[i:i + batch_size], generator=gen, context=ctx)["loss"]) * len(t)
                    count += len(t)
            res[f"loss_{b}"] = total / count
            prev = b
    res["loss"] = sum(v for k, v in res.items())
    return res


def train_prior(
    ds: UCRDataset,
    cfg: Config,
    *,
    seed: int = 0,
    device=None,
    progress: bool = True,
    use_cache: bool = True,
    stop_after_epoch: int | None = None,
) -> TrainedPrior:
    """Train the stage-2 MaskGIT prior(s) on the tokens of the (cached) stage-1 tokenizer of ``cfg``, or load them
    from the cache. The result holds the weights of the validated epoch with the lowest VAL loss."""
    device = torch.device(device) if device is not None else default_device()
    key = prior_key(ds, cfg, seed)
    folder = cache_dir("prior", *key)
    final = folder / "prior.pt"
    return _load_or_train(final, use_cache, lambda: _cached_prior(final, ds, cfg, seed, key, device),
                          lambda: _train_prior(ds, cfg, seed=seed, device=device, progress=progress, folder=folder,
                                               key=key, stop_after_epoch=stop_after_epoch))


def _cached_prior(final: Path, ds: UCRDataset, cfg: Config, seed: int, key: tuple, device) -> TrainedPrior:
    state = _read_final(final)
    _check_request(final, state, key, lambda: prior_key(ds, from_dict(state["config"]), state["seed"]))
    run = load_prior(final, device=device, state=state)
    for p in run.priors.values():  # the weights match; the sampler settings (T, choice_temperature, sampling) are the request's
        p.config = cfg.prior
    run.config = cfg
    # The fingerprint is of the scaled data, so data that differs by scale or offset alone shares this prior:
    # samples are returned in the scale of the data asked for, not of the data it was trained on.
    run.mean, run.std = ds.meta.mean, ds.meta.std
    return run


def _train_prior(ds, cfg, *, seed, device, progress, folder, key, stop_after_epoch) -> TrainedPrior:
    final = folder / "prior.pt"
    tokenizer = train_tokenizer(ds, cfg, seed=seed, device=device, progress=progress).model.eval()
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    tok_train, tok_val = _tokens(tokenizer, ds.x_train, device), _tokens(tokenizer, ds.x_val, device)
    y_train = torch.as_tensor(ds.y_train, device=device)
    y_val = torch.as_tensor(ds.y_val, device=device)
    seed_everything(seed)
    priors = {b: p.to(device) for b, p in _build_priors(tokenizer, cfg, ds.meta.n_classes).items()}

    def step(idx, gen):
        idx = idx.to(device)
        losses, prev = {}, None
        for b, prior in priors.items():
            ctx = None if prev is None else tok_train[prev][idx]
            losses[f"loss_{b}"] = prior.loss(tok_train[b][idx], y_train[idx], generator=gen, context=ctx)["loss"]
            prev = b
        losses["loss"] = sum(losses.values())
        return losses

    history = fit(folder=folder, modules=dict(priors), train_cfg=cfg.stage2, n_train=len(ds.x_train), step=step,
                  validate=lambda: prior_val_loss(priors, tok_val, y_val), seed=seed, progress=progress,
                  stop_after_epoch=stop_after_epoch, desc=f"stage 2 {ds.meta.name} {cfg.prior.variant} seed {seed}",
                  keep_best="val_loss", tag=_key_text(key))  # the priors now hold the best epoch's weights
    for p in priors.values():
        p.eval()
    best = best_row(history, "val_loss")
    best_epoch, best_val = (None, None) if best is None else (best["epoch"], best["val_loss"])
    if stop_after_epoch is None or stop_after_epoch >= n_epochs(cfg.stage2, len(ds.x_train)):
        atomic_save({"config": to_dict(cfg), "length": ds.meta.length, "n_classes": ds.meta.n_classes,
                     "tokenizer": tokenizer.state_dict(), "priors": {b: p.state_dict() for b, p in priors.items()},
                     "history": history, "mean": ds.meta.mean, "std": ds.meta.std, "dataset": ds.meta.name,
                     "seed": seed, "fingerprint": ds.meta.fingerprint, "key": _key_text(key),
                     "best_epoch": best_epoch, "best_val_loss": best_val}, final)
        (folder / "last.pt").unlink(missing_ok=True)
    return TrainedPrior(tokenizer, priors, history, final, cfg, ds.meta.mean, ds.meta.std, best_epoch, best_val)


def load_prior(path, *, device=None, state: dict | None = None) -> TrainedPrior:
    """Rebuild tokenizer and prior(s) from a prior checkpoint alone.

    Raises :class:`CheckpointError` (naming the file) when it cannot be read or rebuilt.
    """
    state = _read_final(Path(path)) if state is None else state
    try:
        cfg = from_dict(state["config"])
        tokenizer = Tokenizer(config=cfg.tokenizer, length=state["length"])
        tokenizer.load_state_dict(state["tokenizer"])
        priors = _build_priors(tokenizer, cfg, state["n_classes"])
        for b, p in priors.items():
            p.load_state_dict(state["priors"][b])
    except Exception as e:
        raise CheckpointError(f"cannot rebuild a prior from {path} ({_one_line(e)}); delete it to retrain") from e
    device = device or default_device()
    tokenizer.to(device).eval()
    priors = {b: p.to(device).eval() for b, p in priors.items()}
    return TrainedPrior(tokenizer, priors, state["history"], Path(path), cfg, state["mean"], state["std"],
                        state.get("best_epoch"), state.get("best_val_loss"))
