"""Representation probes (RQ1, RQ2): linear SVM and KNN on average-pooled quantised latents, plus codebook
diagnostics and 2-D maps of the latents.

The tokenizer is probed in eval mode under ``torch.no_grad``: no BatchNorm statistic and no codebook entry
can change (probing in training mode would leak TEST data into the codebook through the EMA updates).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import SVC

from .data import UCRDataset
from .tokenizer import Tokenizer

# libsvm's solver can cycle for ever on a few near-duplicate pooled features (it did on a naive Beef tokenizer,
# tests/data/svm_cycles.npz); the other subproblems of that fold needed under 100 iterations, so this cap
# binds only on such a cycle, which it ends with sklearn's ConvergenceWarning instead of a hung grid unit.
SVM_MAX_ITER = 10_000_000


@torch.no_grad()
def pooled_features(model: Tokenizer, x: np.ndarray, *, batch_size: int = 512,
                    quantised: bool = True) -> np.ndarray:
    """(n, 1, L) -> (n, d) average-pooled quantised latents (unquantised with ``quantised=False``), in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model.pooled_latents(torch.as_tensor(x[i:i + batch_size], device=device), quantised=quantised).cpu()
           for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64)


def probe_features(f_train, y_train, f_test, y_test, *, svm_c: float = 1.0, k: int = 5) -> dict[str, float]:
    """Fit MinMax[-1, 1] scaling and the probes on TRAIN features, score on TEST."""
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(f_train)
    a, b = scaler.transform(f_train), np.clip(scaler.transform(f_test), -10, 10)
    svm = SVC(kernel="linear", C=svm_c, max_iter=SVM_MAX_ITER).fit(a, y_train)
    knn = KNeighborsClassifier(n_neighbors=min(k, len(a))).fit(a, y_train)
    return {"svm_accuracy": float((svm.predict(b) == y_test).mean()),
            "knn_accuracy": float((knn.predict(b) == y_test).mean())}


def probe(model: Tokenizer, ds: UCRDataset, *, split: str = "test", quantised: bool = True) -> dict[str, float]:
    """SVM (C=1) and KNN (k=5) accuracy of the pooled latents: fit on TRAIN, score on ``split``."""
    x_eval, y_eval = ds.split(split)
    return probe_features(pooled_features(model, ds.x_train, quantised=quantised), ds.y_train,
                          pooled_features(model, x_eval, quantised=quantised), y_eval)


def cv_probe(model: Tokenizer, ds: UCRDataset, *, folds: int = 5, seed: int = 0,
             quantised: bool = True) -> dict[str, float]:
    """SVM and KNN accuracy by stratified k-fold cross-validation on TRAIN ∪ VAL; TEST is never touched.

    A selection criterion for tokenizer settings that is less noisy than the small VAL split alone.
    """
    from sklearn.model_selection import StratifiedKFold

    f = pooled_features(model, np.concatenate([ds.x_train, ds.x_val]), quantised=quantised)
    y = np.concatenate([ds.y_train, ds.y_val])
    n_splits = min(folds, int(np.bincount(y).min()))
    if n_splits < 2:
        raise ValueError(f"{ds.meta.name}: a class has fewer than 2 series in TRAIN ∪ VAL, cannot cross-validate")
    scores = [probe_features(f[a], y[a], f[b], y[b])
              for a, b in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(f, y)]
    return {f"cv_{k}": float(np.mean([sc[k] for sc in scores])) for k in scores[0]}


@torch.no_grad()
def codebook_stats(model: Tokenizer, x: np.ndarray, *, batch_size: int = 512) -> dict[str, dict]:
    """Per band: code usage counts, perplexity, number of used codes and the mean |off-diagonal correlation|
    between codewords (a redundancy measure reported by the thesis)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    counts: dict[str, torch.Tensor] = {}
    for i in range(0, len(x), batch_size):
        for k, t in model.tokenize(torch.as_tensor(x[i:i + batch_size], device=device)).items():
            counts[k] = counts.get(k, 0) + torch.bincount(t.flatten().cpu(), minlength=model.config.codebook_size)
    model.train(was_training)
    out = {}
    for k, c in counts.items():
        p = c.double() / c.sum()
        corr = np.corrcoef(model.codebook(k).detach().cpu().double().numpy())
        off = corr[~np.eye(len(corr), dtype=bool)]
        out[k] = {"counts": c.numpy(), "perplexity": float(torch.exp(-(p * torch.log(p + 1e-12)).sum())),
                  "usage": int((c > 0).sum()), "mean_abs_corr_off_diagonal": float(np.nanmean(np.abs(off)))}
    return out


def embed_2d(features: np.ndarray, *, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of pooled latents for plotting: ``pca`` or ``tsne`` (seeded)."""
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    if method == "tsne":
        perplexity = float(min(30, max(5, (len(features) - 1) // 3)))
        return TSNE(n_components=2, random_state=seed, init="pca", perplexity=perplexity).fit_transform(features)
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
