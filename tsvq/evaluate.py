"""Sample-quality evaluation: the FCN evaluator, FID, KID, IS, CAS, ROCKET-FID and the copy rate
(DESIGN.md "Evaluation").

The evaluator is the fully convolutional network of Wang et al. (2017), trained here on the dataset's
TRAIN split (early stopping on VAL, never on TEST) and cached on disk. Its 128-d pooled features feed
FID and KID (unbiased MMD², which unlike FID has no bias that depends on the set size), its class
probabilities feed IS. CAS trains a fresh FCN on synthetic data and scores it on the real TEST set.
ROCKET-FID replaces the learned features with seeded MiniRocket features, so it needs no trained
network and is comparable across runs and machines. The copy rate checks for memorisation: how many
samples lie closer to a TRAIN series than real TEST series usually do.

All metrics take numpy arrays shaped like the data, ``(n, 1, L)``, and compute in float64.
"""
from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import xlogy
from torch import nn

from .config import EvalConfig
from .utils import atomic_save, autocast, cache_dir, default_device, file_lock, progress_bar

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
    ``config.fcn_precision == "bf16"`` trains under bfloat16 autocast; predictions are float32.
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
    bar = progress_bar(range(config.fcn_epochs), desc="FCN", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        for idx in _batches(len(xt), config.fcn_batch_size, generator):
            idx = idx.to(device)
            with autocast(config.fcn_precision, device):
                loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if x_val is None:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            continue
        val_loss, val_acc = _loss_and_accuracy(model, x_val, y_val, device)
        if best is None or val_acc > best[0] or (val_acc == best[0] and val_loss < best[1]):
            best, best_state, since_best = (val_acc, val_loss, epoch), copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        bar.set_postfix(val_acc=f"{val_acc:.3f}", best=f"{best[0]:.3f}@{best[2]}", refresh=False)
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

    @property
    def fingerprint(self) -> str:
        """A hash of the weights (12 hex digits): the identity of the evaluator that scored a row.

        One seed's evaluator is bit-reproducible on one machine, not across CPUs (their kernels round
        differently), so an evaluator retrained elsewhere is another evaluator, and FID, KID and IS scored by
        two of them do not pair (:data:`tsvq.report.EVALUATOR_METRICS`)."""
        import hashlib

        h = hashlib.sha256()
        for name, t in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:12]


def evaluator_path(ds, *, config: EvalConfig, seed: int = 0) -> Path:
    """Where the evaluator checkpoint of a dataset (its data fingerprint included), config and seed is cached."""
    m = ds.meta
    return cache_dir("evaluator", m.name, m.n_train, m.split_seed, m.fingerprint, seed, config) / "evaluator.pt"


def _load_evaluator(path: Path, device) -> Evaluator:
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = FCN(n_classes=ckpt["n_classes"], in_channels=ckpt["in_channels"]).to(device)
    model.load_state_dict(ckpt["state_dict"])
    return Evaluator(model.eval(), ckpt["test_accuracy"], ckpt["dataset"], EvalConfig(**ckpt["config"]), device)


def load_or_train_evaluator(ds, *, config: EvalConfig, seed: int = 0, device=None, progress: bool = True) -> Evaluator:
    """The cached evaluator of a dataset, trained (TRAIN, early stopping on VAL) on first use.

    TEST is used once, after training, to record the accuracy that tells how far the evaluator's
    features can be trusted. The checkpoint holds plain tensors and numbers only, so it loads with
    ``torch.load(weights_only=True)``. Training runs under a file lock, so two processes never train
    one evaluator at once (the second loads what the first saved); a checkpoint that does not load is
    moved aside to ``<name>.corrupt`` with a warning and trained again.
    """
    device = torch.device(device) if device is not None else default_device()
    path = evaluator_path(ds, config=config, seed=seed)
    if path.is_file():
        try:
            return _load_evaluator(path, device)
        except Exception:  # noqa: BLE001 - judged again under the lock, where it is moved aside
            pass
    with file_lock(path.with_suffix(".lock")):
        if path.is_file():  # another process may have trained it while this one waited
            try:
                return _load_evaluator(path, device)
            except Exception as err:  # noqa: BLE001 - truncated, garbled or from an incompatible version
                aside = path.with_name(path.name + ".corrupt")
                path.replace(aside)
                warnings.warn(f"evaluator checkpoint {path} does not load ({type(err).__name__}: {err}); "
                              f"moved it to {aside.name} and training a new one", stacklevel=2)
        t0 = time.perf_counter()
        model = train_fcn(ds.x_train, ds.y_train, n_classes=ds.meta.n_classes, x_val=ds.x_val, y_val=ds.y_val,
                          config=config, seed=seed, device=device, progress=progress)
        evaluator = Evaluator(model, 0.0, ds.meta.name, config, device)
        evaluator.test_accuracy = evaluator.accuracy(ds.x_test, ds.y_test)
        if progress:
            print(f"evaluator {ds.meta.name} seed {seed}: trained in {time.perf_counter() - t0:.0f} s, "
                  f"TEST accuracy {evaluator.test_accuracy:.4f}", flush=True)
        ckpt = dict(
            state_dict=model.state_dict(),
            n_classes=model.n_classes,
            in_channels=model.in_channels,
            config=dataclasses.asdict(config),
            test_accuracy=evaluator.test_accuracy,
            dataset=ds.meta.name,
        )
        atomic_save(ckpt, path)  # readers never see half a checkpoint
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


def inception_score(probs, n_splits: int = 10, *, seed: int = 0) -> tuple[float, float]:
    """IS = exp E_x[KL(p(y|x) ‖ p(y))] on each of ``n_splits`` splits; (mean, std) over splits.

    The rows are shuffled (``numpy.random.default_rng(seed)``) before they are split: data files are
    often sorted by class, and a split of one class scores ≈ 1 whatever the classifier. Ranges from 1
    (every sample gets the same prediction) to K (confident predictions, balanced over K classes). The
    std is the population std, as in Salimans et al. (2016).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be shaped (n, K), got {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1); pass softmax outputs")
    if not 1 <= n_splits <= len(p):
        raise ValueError(f"n_splits must be in 1..{len(p)} (the number of samples), got {n_splits}")
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, n_splits):
        py = part.mean(axis=0, keepdims=True)  # (1, K) marginal
        kl = (xlogy(part, part) - xlogy(part, py)).sum(axis=1)  # (n,)  0·log 0 = 0
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _check_features(f, name: str) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{name} must be shaped (n >= 2, D), got {f.shape}")
    return f


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of two equal-size sets (m, D) with the kernel k(a, b) = (aᵀb / D + 1)³."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3  # (m, m)
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))  # i ≠ j only
    return float(within - 2.0 * k_xy.mean())


def kid_from_features(f1, f2, *, n_subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018) between feature sets (n1, D) and (n2, D).

    The unbiased MMD² estimator with the cubic polynomial kernel k(x, y) = (xᵀy / D + 1)³, on
    ``n_subsets`` seeded subsets of m = min(subset_size, n1, n2) rows drawn without replacement from
    each set; returns (mean, population std) over subsets. Unbiased, so it is ≈ 0 (and may be negative)
    for two samples of one distribution, whatever m. When both sets have m rows every subset is the
    whole set: the std is then 0 and says nothing about sampling error.
    """
    f1, f2 = _check_features(f1, "f1"), _check_features(f2, "f2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature dimensions differ: {f1.shape[1]} vs {f2.shape[1]}")
    if n_subsets < 1 or subset_size < 2:
        raise ValueError(f"need n_subsets >= 1 and subset_size >= 2, got {n_subsets} and {subset_size}")
    m = min(subset_size, len(f1), len(f2))
    if m == len(f1) == len(f2):  # every subset is both whole sets: one value
        return _mmd2_unbiased(f1, f2), 0.0
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)])
              for _ in range(n_subsets)]
    return float(np.mean(values)), float(np.std(values))


kid = kid_from_features  # the short name, beside fid_from_features


def nearest_distances(x, reference) -> np.ndarray:
    """Euclidean distance of every series in ``x`` (n, C, L) to its nearest one in ``reference`` (N, C, L).

    Computed in float64 in chunks of rows (‖a‖² + ‖b‖² − 2aᵀb to find the nearest, then the exact
    distance to it, so a copy is at distance 0). Returns (n,).
    """
    x, reference = _check_series(x, "x"), _check_series(reference, "reference")
    if x.shape[1:] != reference.shape[1:]:
        raise ValueError(f"series shapes differ: {x.shape[1:]} vs {reference.shape[1:]}")
    a = x.reshape(len(x), -1).astype(np.float64)  # (n, C·L)
    b = reference.reshape(len(reference), -1).astype(np.float64)  # (N, C·L)
    b_sq = (b * b).sum(axis=1)  # (N,)
    out = np.empty(len(a))
    rows = max(1, 2**22 // len(b))  # ≤ 4M distances (32 MB) per chunk
    for i in range(0, len(a), rows):
        chunk = a[i : i + rows]
        nearest = (b_sq[None, :] - 2.0 * chunk @ b.T).argmin(axis=1)  # ‖chunk‖² is the same along a row
        out[i : i + rows] = np.linalg.norm(chunk - b[nearest], axis=1)
    return out


def copy_rate(synth, train, test, *, quantile: float = 0.05) -> dict:
    """Memorisation check: the fraction of ``synth`` closer to TRAIN than most real TEST series are.

    The threshold is the ``quantile`` quantile of the real TEST-to-TRAIN nearest distances; the copy
    rate is the fraction of synthetic series whose nearest-TRAIN distance lies below it: ≈ ``quantile``
    for a generator that draws from the data distribution, → 1 for one that replays TRAIN. Returns
    ``copy_rate``, ``copy_threshold`` and the median nearest-TRAIN distances ``nn_median_synth`` and
    ``nn_median_test``.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    d_synth, d_test = nearest_distances(synth, train), nearest_distances(test, train)
    threshold = float(np.quantile(d_test, quantile))
    return dict(copy_rate=float((d_synth < threshold).mean()), copy_threshold=threshold,
                nn_median_synth=float(np.median(d_synth)), nn_median_test=float(np.median(d_test)))


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


def subsample(x, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``x`` drawn without replacement from ``rng`` (in their original order); ``x`` itself
    when it has exactly ``n`` rows (and then ``rng`` is not drawn from)."""
    if not 1 <= n <= len(x):
        raise ValueError(f"cannot draw {n} of {len(x)} series")
    return x if n == len(x) else x[np.sort(rng.choice(len(x), n, replace=False))]


def sample_quality(evaluator: Evaluator, real, synth, *, reference_train, rocket_kernels: int, seed: int,
                   rocket: RocketFeaturizer | None = None, n: int | None = None) -> dict:
    """FID, KID, IS (on ``synth``), ROCKET-FID and copy rate of one synthetic set against the real one.

    Set-based metrics compare sets of equal size: ``n`` (default min(len(real), len(synth))) series of
    each, a larger set drawn without replacement with ``numpy.random.default_rng(seed)`` (real first,
    then synth). ``rocket`` is a ``RocketFeaturizer`` already fitted on ``reference_train``, so a caller
    fits it once per dataset; without one, one is fitted with ``rocket_kernels`` and ``random_state=seed``.
    The copy rate is a per-sample rate, so it uses every series of both sets, with ``reference_train``
    as TRAIN and ``real`` as TEST. Returns fid, kid, kid_std, is_mean, is_std, rocket_fid, copy_rate,
    copy_threshold, n_real and n_synth (both n).
    """
    channels = evaluator.model.in_channels
    real, synth = _check_series(real, "real", channels), _check_series(synth, "synth", channels)
    reference_train = _check_series(reference_train, "reference_train", channels)
    n = min(len(real), len(synth)) if n is None else n
    if not 2 <= n <= min(len(real), len(synth)):
        raise ValueError(f"n must be in 2..{min(len(real), len(synth))} (the smaller set), got {n}")
    rng = np.random.default_rng(seed)
    real_n, synth_n = subsample(real, n, rng), subsample(synth, n, rng)

    f_real, f_synth = evaluator.features(real_n), evaluator.features(synth_n)
    # subsets of at most half the set, so that they differ and their spread says how stable KID is
    kid_mean, kid_std = kid_from_features(f_real, f_synth, seed=seed, subset_size=min(1000, max(2, len(f_real) // 2)))
    is_mean, is_std = inception_score(evaluator.probs(synth_n), min(evaluator.config.n_is_splits, n), seed=seed)
    if rocket is None:
        rocket = RocketFeaturizer(n_kernels=rocket_kernels, random_state=seed).fit(reference_train)
    copies = copy_rate(synth, reference_train, real)
    return dict(
        fid=fid_from_features(f_real, f_synth),
        kid=kid_mean,
        kid_std=kid_std,
        is_mean=is_mean,
        is_std=is_std,
        rocket_fid=fid_from_features(rocket.transform(real_n), rocket.transform(synth_n)),
        copy_rate=copies["copy_rate"],
        copy_threshold=copies["copy_threshold"],
        n_real=n,
        n_synth=n,
    )
