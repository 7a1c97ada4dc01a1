"""The ``tsvq`` command line: datasets, stage-1/2 training, probing, sampling, evaluation, book runs."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import AUGMENTATIONS, PROFILES, SSL_METHODS, get_config
from .data import DatasetError, load_ucr


def _common(p: argparse.ArgumentParser, *, ssl: bool = True, prior: bool = False) -> None:
    p.add_argument("--dataset", required=True, help="UCR dataset name, e.g. GunPoint or ECG5000")
    p.add_argument("--data-dir", default=None, help="UCR-2018 folder (default: $TSVQ_DATA_DIR, then aeon)")
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bands", default="single", choices=("single", "lf_hf"))
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    if ssl:
        p.add_argument("--ssl", default="none", choices=SSL_METHODS)
        p.add_argument("--aug", default="warp", choices=AUGMENTATIONS[1:])
    if prior:
        p.add_argument("--prior", default="token", choices=("token", "embedding"))


def _config(args):
    sections = {"tokenizer": {"bands": args.bands}}
    if hasattr(args, "ssl"):
        sections["ssl"] = {"method": args.ssl, "augmentation": args.aug}
    if hasattr(args, "prior"):
        sections["prior"] = {"variant": args.prior}
    return get_config(args.profile, **sections)


def _out_dir(args) -> Path:
    d = Path(args.out_dir) / args.dataset
    d.mkdir(parents=True, exist_ok=True)
    return d


def cmd_datasets(args) -> int:
    from .data import list_datasets

    rows = list_datasets(args.data_dir)
    print(f"{'name':<24}{'train':>7}{'test':>7}{'length':>8}{'classes':>9}  source")
    for r in rows:
        print(f"{r['name']:<24}{r['n_train']:>7}{r['n_test']:>7}{r['length']:>8}{r['n_classes']:>9}  {r['source']}")
    return 0


def _tokenizer_report(args, ds, cfg):
    import torch

    from .plots import plot_reconstructions
    from .probe import probe
    from .train import evaluate_reconstruction, train_tokenizer

    run = train_tokenizer(ds, cfg, seed=args.seed, device=args.device)
    rec = evaluate_reconstruction(run.model, ds.x_test)
    res = {"dataset": ds.meta.name, "profile": cfg.profile, "seed": args.seed, "bands": cfg.tokenizer.bands,
           "ssl": cfg.ssl.method, "aug": cfg.ssl.augmentation if cfg.ssl.method != "none" else "none",
           "test_time_mse": rec["time_mse"], "test_stft_mse": rec["stft_mse"],
           **{k: v for k, v in rec.items() if k.startswith(("perplexity", "usage"))}, **probe(run.model, ds)}
    print(f"tokenizer: {run.path}")
    for k, v in res.items():
        print(f"  {k:<16} {v:.4f}" if isinstance(v, float) else f"  {k:<16} {v}")
    out = _out_dir(args)
    tag = f"{res['ssl']}-{res['aug']}-{cfg.tokenizer.bands}-{cfg.profile}-seed{args.seed}"
    with torch.no_grad():
        x = torch.as_tensor(ds.x_test[:6], device=next(run.model.parameters()).device)
        x_hat = run.model(x).x_hat.cpu().numpy()
    fig = plot_reconstructions(ds.x_test[:6], x_hat, ds.y_test[:6], class_names=ds.meta.class_names,
                               title=f"{ds.meta.name} TEST reconstructions ({tag})")
    fig.savefig(out / f"reconstruction-{tag}.png")
    (out / f"tokenizer-{tag}.json").write_text(json.dumps(res, indent=1))
    print(f"figure: {out / f'reconstruction-{tag}.png'}")
    return 0


def cmd_train_tokenizer(args) -> int:
    return _tokenizer_report(args, load_ucr(args.dataset, args.data_dir), _config(args))


def cmd_probe(args) -> int:
    from .train import tokenizer_cache_key
    from .utils import cache_dir

    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    if not (cache_dir("tokenizer", *tokenizer_cache_key(ds, cfg, args.seed)) / "tokenizer.pt").exists():
        print("no cached tokenizer for these settings; train it first with `tsvq train-tokenizer`", file=sys.stderr)
        return 2
    return _tokenizer_report(args, ds, cfg)


def cmd_train_prior(args) -> int:
    import math

    from .train import train_prior

    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    run = train_prior(ds, cfg, seed=args.seed, device=args.device)
    print(f"prior: {run.path}")
    print(f"uniform guess: log K = {math.log(cfg.tokenizer.codebook_size):.4f} per band")
    print(f"{'epoch':>6}{'train_loss':>12}{'val_loss':>10}")
    for h in run.history:
        if "val_loss" in h:
            print(f"{h['epoch']:>6}{h['train_loss']:>12.4f}{h['val_loss']:>10.4f}")
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    from .plots import plot_real_vs_synthetic
    from .train import train_prior

    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    run = train_prior(ds, cfg, seed=args.seed, device=args.device)
    if args.class_ is not None and not 0 <= args.class_ < ds.meta.n_classes:
        print(f"error: --class must be in 0..{ds.meta.n_classes - 1} (classes {ds.meta.class_names})", file=sys.stderr)
        return 2
    if args.class_ is None:
        labels = None if args.unconditional else np.arange(args.n) % ds.meta.n_classes
    else:
        labels = args.class_
    out = run.sample(args.n, labels=labels, guidance=args.guidance, seed=args.sample_seed)
    y = np.full(args.n, -1) if labels is None else np.broadcast_to(labels, (args.n,))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, x=out["x_raw"], x_normalised=out["x"], y=y,
             **{f"tokens_{b}": t for b, t in out["tokens"].items()})
    fig_path = Path(args.out).with_suffix(".png")
    if labels is None:
        plot = plot_real_vs_synthetic(ds.denormalize(ds.x_train), np.zeros(len(ds.x_train), int), out["x_raw"],
                                      np.zeros(args.n, int), class_names=("all",), title=f"{ds.meta.name}: unconditional samples")
    else:
        plot = plot_real_vs_synthetic(ds.denormalize(ds.x_train), ds.y_train, out["x_raw"], y,
                                      class_names=ds.meta.class_names,
                                      title=f"{ds.meta.name}: real TRAIN vs samples (guidance {args.guidance})")
    plot.savefig(fig_path)
    print(f"wrote {args.n} samples to {args.out} and a figure to {fig_path}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import load_or_train_evaluator
    from .experiments import cas_labels, evaluate_samples, setting_name
    from .train import train_prior

    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=args.seed, device=args.device)
    run = train_prior(ds, cfg, seed=args.seed, device=args.device)
    uncond = run.sample(len(ds.x_test), seed=args.seed)["x"]
    y_cond = cas_labels(ds, cfg)
    cond = run.sample(len(y_cond), labels=y_cond, seed=args.seed + 1)["x"]
    q = evaluate_samples(ds, uncond, cond, y_cond, cfg=cfg, evaluator=evaluator, seed=args.seed, progress=True)
    res = {"dataset": ds.meta.name, "profile": cfg.profile, "seed": args.seed,
           "setting": setting_name(cfg.ssl.method, cfg.ssl.augmentation), "prior": cfg.prior.variant,
           "evaluator_test_accuracy": evaluator.test_accuracy, **q, "n_cas_samples": len(y_cond)}
    print(f"FID        {q['fid']:.4f}   ({q['n_synth']} unconditional samples vs {q['n_real']} real TEST series)")
    print(f"IS         {q['is_mean']:.4f} ± {q['is_std']:.4f}")
    print(f"ROCKET-FID {q['rocket_fid']:.4f}")
    print(f"CAS        {q['cas']:.4f}   (FCN trained on {len(y_cond)} class-conditional samples, tested on real TEST)")
    print(f"evaluator TEST accuracy {evaluator.test_accuracy:.4f}")
    out = Path(args.out_dir) / ds.meta.name
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"evaluate-{res['setting']}-{res['prior']}-{cfg.tokenizer.bands}-{cfg.profile}-seed{args.seed}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0


def cmd_run(args) -> int:
    from .book import write_toc
    from .runner import run_book

    results = run_book(dataset=args.dataset, profile=args.profile, seeds=args.seeds, data_dir=args.data_dir,
                       notebooks=args.notebooks, results_dir=args.results_dir)
    write_toc()
    for r in results:
        print(r.describe(), file=sys.stdout if r.ok else sys.stderr)
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed}/{len(results)} notebooks succeeded")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tsvq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("datasets", help="list the datasets available locally and bundled with aeon")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_datasets)

    for name, func, helptext in [
        ("train-tokenizer", cmd_train_tokenizer, "train (or load) a stage-1 tokenizer and report TEST metrics"),
        ("probe", cmd_probe, "SVM/KNN probes and reconstruction of a cached tokenizer"),
    ]:
        p = sub.add_parser(name, help=helptext)
        _common(p)
        p.add_argument("--out-dir", default="results/cli", help="where figures and JSON results go")
        p.set_defaults(func=func)

    p = sub.add_parser("train-prior", help="train (or load) a stage-2 MaskGIT prior; trains the tokenizer if needed")
    _common(p, prior=True)
    p.set_defaults(func=cmd_train_prior)

    p = sub.add_parser("sample", help="draw samples from a (cached) prior and save them with a figure")
    _common(p, prior=True)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--class", dest="class_", type=int, default=None, help="class index 0..K-1 (default: all classes)")
    p.add_argument("--unconditional", action="store_true", help="sample with the null class")
    p.add_argument("--guidance", type=float, default=1.0)
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--out", default="samples.npz")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="FID, IS, CAS and ROCKET-FID of samples from a (cached) prior")
    _common(p, prior=True)
    p.add_argument("--out-dir", default="results/cli")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("run", help="execute the book's notebooks for one dataset with papermill")
    p.add_argument("--dataset", required=True)
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--notebooks", nargs="+", default=None, help="chapter names, e.g. datasets rq1 (default: all)")
    p.add_argument("--results-dir", default="results")
    p.set_defaults(func=cmd_run)

    from .grid import add_grid_command  # the grid engine owns its own arguments

    add_grid_command(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
