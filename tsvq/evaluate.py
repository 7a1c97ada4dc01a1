"""Sample-quality evaluation: the FCN evaluator, FID, IS, CAS and ROCKET-FID (DESIGN.md "Evaluation").

The evaluator is the fully convolutional network of Wang et al. (2017), trained here on the dataset's
TRAIN split (early stopping on VAL, never on TEST) and cached on disk. Its 128-d pooled features feed
FID, its class probabilities feed IS. CAS trains a fresh FCN on synthetic data and scores it on the real
TEST set. ROCKET-FID replaces the learned features with seeded MiniRocket features, so it needs no
trained network and is comparable across runs and machines.

All metrics take numpy arrays shaped like the data, ``(n, 1, L)``, and compute in float64.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import xlogy
from torch import nn
from tqdm import tqdm

from .config import EvalConfig
from .utils import cache_dir, default_device

# ----------------------------------------------------------------------------------------------- helpers


def _check_series(x, name: str, in_channels: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{name} must be shaped (n, channels, length), got shape {x.shape}; "
                         "add the channel axis with x[:, None, :]")
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(f"{name} has {x.shape[1]} channels but the network expects {in_channels}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    return x


def _check_labels(y, n: int, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must be shaped ({n},) to match its series, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"{name} must hold integer labels in 0..{n_classes - 1}")
    return y.astype(np.int64)


# ----------------------------------------------------------------------------------------------- network


class FCN(nn.Module):
    """Fully convolutional network of Wang et al. 2017, the standard UCR baseline classifier.

    Three Conv1d blocks (128·k8, 256·k5, 128·k3, 'same' padding, BatchNorm, ReLU), global average
    pooling over time to a 128-d feature, and a linear head. Pooling makes the feature independent of
    the series length, which is what FID needs.
    """

    feature_dim = 128

    def __init__(self, *, n_classes: int, in_channels: int = 1):
        super().__init__()
        self.n_classes = n_classes
        self.in_channels = in_channels
        spec = [(in_channels, 128, 8), (128, 256, 5), (256, 128, 3)]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(c_in, c_out, k), nn.BatchNorm1d(c_out), nn.ReLU()) for c_in, c_out, k in spec
        )
        self.head = nn.Linear(self.feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (B, C, L)
        for block in self.blocks:
            k = block[0].kernel_size[0]
            # 'same' padding done by hand: for even kernels the extra zero goes on the right (as in Keras).
            h = block(F.pad(h, ((k - 1) // 2, k // 2)))  # (B, C', L)
        return h.mean(dim=-1)  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, n_classes)


@torch.no_grad()
def _predict(model: FCN, x: np.ndarray, device, what: str = "logits", batch_size: int = 512) -> np.ndarray:
    """Batched inference in eval mode; returns float64 numpy (n, K) logits or (n, 128) features."""
    was_training = model.training
    model.eval()
    fn = model.features if what == "features" else model
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(np.ascontiguousarray(x[i : i + batch_size]), dtype=torch.float32, device=device)
        out.append(fn(xb).double().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out)


def _loss_and_accuracy(model: FCN, x: np.ndarray, y: np.ndarray, device) -> tuple[float, float]:
    logits = _predict(model, x, device)
    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    return loss, float((logits.argmax(1) == y).mean())


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded shuffle cut into batches; a last batch of one is merged, since BatchNorm needs two."""
    batches = list(torch.randperm(n, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches[-2] = torch.cat(batches[-2:])
        batches.pop()
    return batches


def train_fcn(
    x_train,
    y_train,
    *,
    n_classes: int,
    x_val=None,
    y_val=None,
    config: EvalConfig,
    seed: int,
    device=None,
    progress: bool = True,
) -> FCN:
    """Train an FCN with Adam; with a VAL set, early-stop on VAL accuracy and keep the best weights.

    The best epoch is the one with the highest VAL accuracy, ties broken by the lower VAL loss: small
    VAL sets saturate at 100 % accuracy early, and the loss still tells the better of those epochs
    apart. Training stops after ``config.fcn_patience`` epochs without a better epoch. Without a VAL
    set the network trains for ``config.fcn_epochs`` epochs and the last weights are kept.
    Deterministic for a seed on CPU. Returns the network in eval mode.
    """
    x_train = _check_series(x_train, "x_train")
    y_train = _check_labels(y_train, len(x_train), n_classes, "y_train")
    if len(x_train) < 2:
        raise ValueError("train_fcn needs at least 2 training series (BatchNorm needs a batch of two)")
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val, or neither")
    if x_val is not None:
        x_val = _check_series(x_val, "x_val", x_train.shape[1])
        y_val = _check_labels(y_val, len(x_val), n_classes, "y_val")
    device = torch.device(device) if device is not None else default_device()

    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        model = FCN(n_classes=n_classes, in_channels=x_train.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.fcn_lr)
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=device)  # (N, C, L)
    yt = torch.as_tensor(y_train, device=device)  # (N,)

    best, best_state, since_best = None, None, 0
    bar = tqdm(range(config.fcn_epochs), desc="FCN", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        for idx in _batches(len(xt), config.fcn_batch_size, generator):
            idx = idx.to(device)
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if x_val is None:
            bar.set_postfix(loss=f"{loss.item():.3f}")
            continue
        val_loss, val_acc = _loss_and_accuracy(model, x_val, y_val, device)
        if best is None or val_acc > best[0] or (val_acc == best[0] and val_loss < best[1]):
            best, best_state, since_best = (val_acc, val_loss, epoch), copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        bar.set_postfix(val_acc=f"{val_acc:.3f}", best=f"{best[0]:.3f}@{best[2]}")
        if since_best >= config.fcn_patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()


# ----------------------------------------------------------------------------------------------- evaluator


@dataclass
class Evaluator:
    """A trained FCN with its real TEST accuracy: the feature extractor for FID and classifier for IS."""

    model: FCN = field(repr=False)
    test_accuracy: float
    dataset: str
    config: EvalConfig
    device: torch.device

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    def features(self, x) -> np.ndarray:
        """Pooled 128-d features, (n, 128) float64."""
        return _predict(self.model, _check_series(x, "x", self.model.in_channels), self.device, "features")

    def probs(self, x) -> np.ndarray:
        """Class probabilities p(y|x), (n, K) float64."""
        logits = _predict(self.model, _check_series(x, "x", self.model.in_channels), self.device)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def accuracy(self, x, y) -> float:
        x = _check_series(x, "x", self.model.in_channels)
        y = _check_labels(y, len(x), self.n_classes, "y")
        return _loss_and_accuracy(self.model, x, y, self.device)[1]


def evaluator_path(ds, *, config: EvalConfig, seed: int = 0):
    """Where the evaluator checkpoint of a dataset (and its VAL split), config and seed is cached."""
    return cache_dir("evaluator", ds.meta.name, ds.meta.n_train, ds.meta.split_seed, seed, config) / "evaluator.pt"


def load_or_train_evaluator(ds, *, config: EvalConfig, seed: int = 0, device=None, progress: bool = True) -> Evaluator:
    """The cached evaluator of a dataset, trained (TRAIN, early stopping on VAL) on first use.

    TEST is used once, after training, to record the accuracy that tells how far the evaluator's
    features can be trusted. The checkpoint holds plain tensors and numbers only, so it loads with
    ``torch.load(weights_only=True)``.
    """
    device = torch.device(device) if device is not None else default_device()
    path = evaluator_path(ds, config=config, seed=seed)
    if path.is_file():
        ckpt = torch.load(path, map_location=device, weights_only=True)
        model = FCN(n_classes=ckpt["n_classes"], in_channels=ckpt["in_channels"]).to(device)
        model.load_state_dict(ckpt["state_dict"])
        return Evaluator(model.eval(), ckpt["test_accuracy"], ckpt["dataset"], EvalConfig(**ckpt["config"]), device)

    model = train_fcn(ds.x_train, ds.y_train, n_classes=ds.meta.n_classes, x_val=ds.x_val, y_val=ds.y_val,
                      config=config, seed=seed, device=device, progress=progress)
    evaluator = Evaluator(model, 0.0, ds.meta.name, config, device)
    evaluator.test_accuracy = evaluator.accuracy(ds.x_test, ds.y_test)
    ckpt = dict(
        state_dict=model.state_dict(),
        n_classes=model.n_classes,
        in_channels=model.in_channels,
        config=dataclasses.asdict(config),
        test_accuracy=evaluator.test_accuracy,
        dataset=ds.meta.name,
    )
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(ckpt, tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint behind
    return evaluator


# ----------------------------------------------------------------------------------------------- metrics


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; rounding-level negative eigenvalues become 0."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    d² = ‖mu1 − mu2‖² + tr(sigma1) + tr(sigma2) − 2 tr((sigma1 sigma2)^½).

    The trace term is computed without a general matrix square root: for symmetric PSD matrices
    tr((sigma1 sigma2)^½) = tr((s1 sigma2 s1)^½) = ‖s1 s2‖_* (the sum of singular values), with
    s = sigma^½ from a symmetric eigen-decomposition. Unlike ``scipy.linalg.sqrtm(sigma1 @ sigma2)``
    this is real by construction, needs no eps·I offset for singular covariances (e.g. fewer samples
    than feature dimensions, as with MiniRocket features), and its rounding error stays at
    eps·‖sigma‖ instead of growing like its square root, so the distance of a set to itself is 0 up
    to ~1e-12 rather than ~1e-6.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
                         f"sigma2 {sigma2.shape}; expected (D,) means and (D, D) covariances")
    if not (np.isfinite(sigma1).all() and np.isfinite(sigma2).all() and np.isfinite(mu1).all()
            and np.isfinite(mu2).all()):
        raise ValueError("means and covariances must be finite")
    sigma1, sigma2 = (sigma1 + sigma1.T) / 2, (sigma2 + sigma2.T) / 2
    tr_covmean = np.linalg.svd(_psd_sqrt(sigma1) @ _psd_sqrt(sigma2), compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def gaussian_fit(f) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features (n, D), in float64."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be shaped (n >= 2, D), got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def fid_from_features(f1, f2) -> float:
    """FID between two feature sets (n1, D) and (n2, D)."""
    return frechet_distance(*gaussian_fit(f1), *gaussian_fit(f2))


def inception_score(probs, n_splits: int = 10) -> tuple[float, float]:
    """IS = exp E_x[KL(p(y|x) ‖ p(y))] on each of ``n_splits`` consecutive splits; (mean, std) over splits.

    Ranges from 1 (every sample gets the same prediction) to K (confident predictions, balanced over K
    classes). The std is the population std, as in Salimans et al. (2016).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be shaped (n, K), got {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1); pass softmax outputs")
    if not 1 <= n_splits <= len(p):
        raise ValueError(f"n_splits must be in 1..{len(p)} (the number of samples), got {n_splits}")
    scores = []
    for part in np.array_split(p, n_splits):
        py = part.mean(axis=0, keepdims=True)  # (1, K) marginal
        kl = (xlogy(part, part) - xlogy(part, py)).sum(axis=1)  # (n,)  0·log 0 = 0
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def cas_sample_counts(y_train, n_classes: int, min_total: int = 1000) -> np.ndarray:
    """Synthetic samples per class for CAS: TRAIN's class counts, scaled up proportionally to ≥ min_total."""
    counts = np.bincount(np.asarray(y_train), minlength=n_classes).astype(np.int64)
    if len(counts) != n_classes:
        raise ValueError(f"y_train holds labels >= n_classes ({n_classes})")
    total = counts.sum()
    if total == 0:
        raise ValueError("y_train is empty")
    if total >= min_total:
        return counts
    return -(-counts * min_total // total)  # ceil(counts · min_total / total): proportional, sum ≥ min_total


def cas(x_syn, y_syn, x_test, y_test, *, n_classes: int, config: EvalConfig, seed: int, device=None,
        progress: bool = True) -> float:
    """Classification Accuracy Score: a fresh FCN trained only on synthetic data, accuracy on real TEST.

    A stratified, seeded 10 % of the synthetic set is held out for early stopping, so no real data
    influences training. Returns the final accuracy of the selected network (not a running average).
    """
    from .data import stratified_split

    x_syn = _check_series(x_syn, "x_syn")
    y_syn = _check_labels(y_syn, len(x_syn), n_classes, "y_syn")
    x_test = _check_series(x_test, "x_test", x_syn.shape[1])
    y_test = _check_labels(y_test, len(x_test), n_classes, "y_test")
    keep, held = stratified_split(y_syn, 0.1, seed)
    val = (x_syn[held], y_syn[held]) if len(held) else (None, None)  # no class has two samples: no early stopping
    model = train_fcn(x_syn[keep], y_syn[keep], n_classes=n_classes, x_val=val[0], y_val=val[1], config=config,
                      seed=seed, device=device, progress=progress)
    device = next(model.parameters()).device
    return _loss_and_accuracy(model, x_test, y_test, device)[1]


class RocketFeaturizer:
    """Seeded MiniRocket features (aeon), standardised with the mean/std of the real TRAIN set.

    aeon rounds ``n_kernels`` down to a multiple of 84 (at least 84): that is the feature count.
    Standardising puts the PPV features, which live on very different scales, on an equal footing
    in the Fréchet distance; features constant on TRAIN are only centred.
    """

    def __init__(self, *, n_kernels: int, random_state: int):
        self.n_kernels = n_kernels
        self.random_state = random_state
        self.rocket = None

    def fit(self, x_train) -> "RocketFeaturizer":
        from aeon.transformations.collection.convolution_based import MiniRocket

        x_train = _check_series(x_train, "x_train").astype(np.float32)
        self.n_channels_ = x_train.shape[1]
        self.rocket = MiniRocket(n_kernels=self.n_kernels, random_state=self.random_state, n_jobs=1)
        state = np.random.get_state()  # MiniRocket seeds numpy's global RNG; leave it as it was
        threads = torch.get_num_threads()  # and aeon resets torch's thread count; restore it too
        try:
            self.rocket.fit(x_train)
        finally:
            np.random.set_state(state)
            torch.set_num_threads(threads)
        f = self._raw(x_train)
        self.mean_ = f.mean(axis=0)
        std = f.std(axis=0)
        self.std_ = np.where(std > 1e-12, std, 1.0)
        return self

    def _raw(self, x) -> np.ndarray:
        # C-contiguous float32 input: numba would otherwise compile another specialisation (seconds).
        threads = torch.get_num_threads()
        try:
            return np.asarray(self.rocket.transform(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float64)
        finally:
            torch.set_num_threads(threads)

    def transform(self, x) -> np.ndarray:
        """Standardised features, (n, n_features) float64."""
        if self.rocket is None:
            raise RuntimeError("call fit(x_train) before transform")
        x = _check_series(x, "x", self.n_channels_)
        return (self._raw(x) - self.mean_) / self.std_


def rocket_fid(real, synth, *, reference_train, n_kernels: int, random_state: int) -> float:
    """FID on MiniRocket features fitted to ``reference_train`` (the real TRAIN set)."""
    feat = RocketFeaturizer(n_kernels=n_kernels, random_state=random_state).fit(reference_train)
    return fid_from_features(feat.transform(real), feat.transform(synth))


def sample_quality(evaluator: Evaluator, real, synth, *, reference_train, rocket_kernels: int, seed: int) -> dict:
    """FID, IS (on ``synth``) and ROCKET-FID of one synthetic set against the real one."""
    real = _check_series(real, "real", evaluator.model.in_channels)
    synth = _check_series(synth, "synth", evaluator.model.in_channels)
    is_mean, is_std = inception_score(evaluator.probs(synth), min(evaluator.config.n_is_splits, len(synth)))
    return dict(
        fid=fid_from_features(evaluator.features(real), evaluator.features(synth)),
        is_mean=is_mean,
        is_std=is_std,
        rocket_fid=rocket_fid(real, synth, reference_train=reference_train, n_kernels=rocket_kernels,
                              random_state=seed),
        n_real=len(real),
        n_synth=len(synth),
    )
