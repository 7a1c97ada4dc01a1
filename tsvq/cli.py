"""The ``tsvq`` command line: datasets, stage-1/2 training, probing, sampling, evaluation, book runs."""
from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import re
import sys
from pathlib import Path

from .config import AUGMENTATIONS, PROFILES, SSL_METHODS, get_config
from .data import DatasetError, check_name, load_ucr
from .identity import PRIORS


class UsageError(ValueError):
    """An argument that cannot work, found before anything trains; the CLI prints it as one line."""


# ----------------------------------------------------------------------------------------------- checks


def _check_seed(seed: int, flag: str = "--seed") -> None:
    if not 0 <= seed < 2**32:
        raise UsageError(f"{flag} must be in 0..{2**32 - 1}, got {seed}")


def check_device(device, flag: str = "--device") -> None:
    """cpu, cuda, cuda:N or mps, and available on this machine (None: the default, always fine)."""
    if device is None or device == "":
        return
    m = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", str(device))
    if m is None:
        raise UsageError(f"{flag} {device!r} is not a device; use cpu, cuda, cuda:N or mps")
    import torch

    kind, index = m.group(1), m.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{flag} {device}: CUDA is not available here (torch {torch.__version__}, "
                             f"{'no CUDA build' if torch.version.cuda is None else 'no GPU visible'}); use --device cpu")
        if index is not None and int(index) >= torch.cuda.device_count():
            raise UsageError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"{flag} {device}: Apple MPS is not available here; use --device cpu")


def _check_folder(path, flag: str) -> Path:
    """A folder that exists or can be created, and is writable; nothing is created here."""
    p = Path(path).expanduser()
    probe = p
    while not probe.exists() and not probe.is_symlink() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == p else f"cannot be created: {probe} is a file"
        raise UsageError(f"{flag} {p} {where}, not a folder")
    if not probe.exists():
        raise UsageError(f"{flag} {p} cannot be created ({probe} is a broken link)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {p} is not writable ({probe} does not allow writing)")
    return p


def _check_out_file(path, flag: str = "--out") -> Path:
    """The file np.savez really writes (it appends ``.npz``), checked to be writable."""
    p = Path(path).expanduser()
    if p.name in ("", ".", ".."):
        raise UsageError(f"{flag} {path!r} names no file")
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    if p.is_dir():
        raise UsageError(f"{flag} {p} is a folder; give a file name such as {p / 'samples.npz'}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{flag} {p} exists and is not writable")
    _check_folder(p.parent, f"{flag} {p}: folder")
    return p


def _check_cache() -> None:
    """The model cache ($TSVQ_CACHE_DIR or ~/.cache/tsvq) must be a writable folder."""
    from .utils import cache_root

    flag = "TSVQ_CACHE_DIR" if os.environ.get("TSVQ_CACHE_DIR") else "cache folder"
    try:
        root = cache_root()
    except OSError as e:
        raise UsageError(f"{flag} {e.filename or os.environ.get('TSVQ_CACHE_DIR', '')} cannot be used as the model "
                         f"cache ({e.strerror or e}); point TSVQ_CACHE_DIR at a writable folder") from None
    if not root.is_dir():
        raise UsageError(f"{flag} {root} is a file, not a folder; point TSVQ_CACHE_DIR at a writable folder")
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {root} is not writable; point TSVQ_CACHE_DIR at a writable folder")


def _check_common(args) -> None:
    """What every training command can check before reading data or training."""
    check_name(args.dataset)
    _check_seed(args.seed)
    check_device(args.device)
    if args.device is None and os.environ.get("TSVQ_DEVICE"):
        check_device(os.environ["TSVQ_DEVICE"], "TSVQ_DEVICE")
    if getattr(args, "out_dir", None) is not None:
        _check_folder(args.out_dir, "--out-dir")
        _check_folder(Path(args.out_dir) / args.dataset, "--out-dir")
    _check_cache()


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
        p.add_argument("--prior", default="token", choices=tuple(PRIORS),
                       help="token, embedding, or token_thesis (the thesis' token prior: an ablation)")


def _config(args):
    sections = {"tokenizer": {"bands": args.bands}}
    if hasattr(args, "ssl"):
        sections["ssl"] = {"method": args.ssl, "augmentation": args.aug}
    if hasattr(args, "prior"):
        sections["prior"] = dict(PRIORS[args.prior])
    return get_config(args.profile, **sections)


def _out_dir(args) -> Path:
    d = Path(args.out_dir).expanduser() / args.dataset
    d.mkdir(parents=True, exist_ok=True)
    return d


def _jsonable(v):
    """numpy scalars as Python numbers, NaN/inf as null: the JSON files are strict JSON."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _write_json(path: Path, obj) -> None:
    from .utils import atomic_write_text

    atomic_write_text(path, json.dumps(_jsonable(obj), indent=1))


def _print_metrics(res: dict, indent: str = "  ") -> None:
    """Every key of a result dict, numbers formatted, so new metrics show up without a change here."""
    width = max((len(k) for k in res), default=0)
    for k, v in res.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Number):
            print(f"{indent}{k:<{width}}  {v}")
        elif isinstance(v, numbers.Integral):
            print(f"{indent}{k:<{width}}  {int(v)}")
        else:
            v = float(v)
            text = f"{v:.4f}" if v == 0 or not math.isfinite(v) or 1e-3 <= abs(v) < 1e6 else f"{v:.4g}"
            print(f"{indent}{k:<{width}}  {text}")


def cmd_datasets(args) -> int:
    from .data import list_datasets

    rows = list_datasets(args.data_dir)
    print(f"{'name':<24}{'train':>7}{'test':>7}{'length':>8}{'classes':>9}  source")
    for r in rows:
        if r.get("error"):
            continue
        print(f"{r['name']:<24}{r['n_train']:>7}{r['n_test']:>7}{r['length']:>8}{r['n_classes']:>9}  {r['source']}")
    for r in rows:
        if r.get("error"):
            print(f"warning: skipped {r['name']}: {r['error']}", file=sys.stderr)
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
    _print_metrics(res)
    out = _out_dir(args)
    tag = f"{res['ssl']}-{res['aug']}-{cfg.tokenizer.bands}-{cfg.profile}-seed{args.seed}"
    with torch.no_grad():
        x = torch.as_tensor(ds.x_test[:6], device=next(run.model.parameters()).device)
        x_hat = run.model(x).x_hat.cpu().numpy()
    fig = plot_reconstructions(ds.x_test[:6], x_hat, ds.y_test[:6], class_names=ds.meta.class_names,
                               title=f"{ds.meta.name} TEST reconstructions ({tag})")
    fig.savefig(out / f"reconstruction-{tag}.png")
    _write_json(out / f"tokenizer-{tag}.json", res)
    print(f"figure: {out / f'reconstruction-{tag}.png'}")
    return 0


def cmd_train_tokenizer(args) -> int:
    _check_common(args)
    cfg = _config(args)
    return _tokenizer_report(args, load_ucr(args.dataset, args.data_dir), cfg)


def cmd_probe(args) -> int:
    from .train import tokenizer_cache_key
    from .utils import cache_dir

    _check_common(args)
    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    path = cache_dir("tokenizer", *tokenizer_cache_key(ds, cfg, args.seed)) / "tokenizer.pt"
    if not path.exists():
        raise UsageError(f"no cached tokenizer for these settings ({path}); train it first with `tsvq train-tokenizer`")
    return _tokenizer_report(args, ds, cfg)


def cmd_train_prior(args) -> int:
    from .train import train_prior

    _check_common(args)
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

    _check_common(args)
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    if not math.isfinite(args.guidance):
        raise UsageError(f"--guidance must be a finite number, got {args.guidance}")
    if args.class_ is not None and args.unconditional:
        raise UsageError("--class and --unconditional exclude each other; give one")
    out_path = _check_out_file(args.out)
    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    if args.class_ is not None and not 0 <= args.class_ < ds.meta.n_classes:
        raise UsageError(f"--class must be in 0..{ds.meta.n_classes - 1} for {ds.meta.name} "
                         f"(class indices of the labels {ds.meta.class_names}), got {args.class_}")
    run = train_prior(ds, cfg, seed=args.seed, device=args.device)
    if args.class_ is None:
        labels = None if args.unconditional else np.arange(args.n) % ds.meta.n_classes
    else:
        labels = args.class_
    out = run.sample(args.n, labels=labels, guidance=args.guidance, seed=args.sample_seed)
    y = np.full(args.n, -1) if labels is None else np.broadcast_to(labels, (args.n,))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_path, x=out["x_raw"], x_normalised=out["x"], y=y,
             **{f"tokens_{b}": t for b, t in out["tokens"].items()})
    fig_path = out_path.with_suffix(".png")
    if labels is None:
        plot = plot_real_vs_synthetic(ds.denormalize(ds.x_train), np.zeros(len(ds.x_train), int), out["x_raw"],
                                      np.zeros(args.n, int), class_names=("all",), title=f"{ds.meta.name}: unconditional samples")
    else:
        plot = plot_real_vs_synthetic(ds.denormalize(ds.x_train), ds.y_train, out["x_raw"], y,
                                      class_names=ds.meta.class_names,
                                      title=f"{ds.meta.name}: real TRAIN vs samples (guidance {args.guidance})")
    plot.savefig(fig_path)
    print(f"wrote {args.n} samples to {out_path} and a figure to {fig_path}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import load_or_train_evaluator
    from .experiments import evaluate_prior, setting_name
    from .train import train_prior

    _check_common(args)
    cfg = _config(args)
    ds = load_ucr(args.dataset, args.data_dir)
    evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=args.seed, device=args.device)
    run = train_prior(ds, cfg, seed=args.seed, device=args.device)
    q = evaluate_prior(run, ds, cfg=cfg, evaluator=evaluator, seed=args.seed, progress=True)
    res = {"dataset": ds.meta.name, "profile": cfg.profile, "seed": args.seed,
           "setting": setting_name(cfg.ssl.method, cfg.ssl.augmentation), "prior": args.prior,
           "bands": cfg.tokenizer.bands, **q, "evaluator_test_accuracy": evaluator.test_accuracy,
           "evaluator_hash": evaluator.fingerprint}
    print(f"{ds.meta.name} ({res['setting']}, {res['prior']} prior, {cfg.profile}, seed {args.seed}): unconditional "
          "samples against real TEST (n_real, n_synth series each); CAS: an FCN trained on n_cas class-conditional "
          "samples, tested on real TEST")
    _print_metrics({k: v for k, v in res.items() if isinstance(v, numbers.Number) and not isinstance(v, bool)
                    and k != "seed"})
    out = _out_dir(args)
    path = out / f"evaluate-{res['setting']}-{res['prior']}-{cfg.tokenizer.bands}-{cfg.profile}-seed{args.seed}.json"
    _write_json(path, res)
    print(f"wrote {path}")
    return 0


def cmd_run(args) -> int:
    from .book import BOOK_PROFILE, executed_root, is_book_run, repo_root, write_toc
    from .runner import run_book

    check_name(args.dataset)
    for s in args.seeds:
        _check_seed(s, "--seeds")
    root = repo_root()
    results_dir = Path(args.results_dir).expanduser()
    _check_folder(results_dir if results_dir.is_absolute() else root / results_dir, "--results-dir")
    _check_cache()
    results = run_book(dataset=args.dataset, profile=args.profile, seeds=args.seeds, data_dir=args.data_dir,
                       notebooks=args.notebooks, results_dir=args.results_dir, grid=not args.no_grid)
    book_run = is_book_run(args.profile, args.results_dir, root)
    if book_run:
        write_toc(root)  # only a run of the book's profile into results/ changes the book
    for r in results:
        print(r.describe(), file=sys.stdout if r.ok else sys.stderr)
    if not book_run:
        print(f"executed notebooks kept in {executed_root(args.profile, args.results_dir, root)}; the book shows "
              f"only `--profile {BOOK_PROFILE}` runs into the repository's results/")
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed}/{len(results)} notebooks succeeded")
    return 1 if failed else 0


def cmd_book(args) -> int:
    """Build the book; on a checkout where no dataset ran yet, execute one dataset's chapters first."""
    from .book import EXECUTED, build_book, executed_chapters, repo_root
    from .runner import run_book

    root = repo_root()
    failed = []
    if not any(datasets for ch, datasets in executed_chapters(root) if ch.scope == "dataset"):
        print(f"no executed dataset yet: running the notebooks for {args.default_dataset} ({args.profile}) first")
        results = run_book(dataset=args.default_dataset, profile=args.profile, seeds=args.seeds,
                           data_dir=args.data_dir, out_root=root / EXECUTED)  # into the book, whatever the profile
        failed = [r for r in results if not r.ok]
    try:
        out = build_book(strict=args.strict, root=root, clean=args.clean)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"book: {out / 'index.html'}")
    for r in failed:
        print(r.describe(), file=sys.stderr)
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
    p.add_argument("--no-grid", action="store_true",
                   help="execute the chapters on the results that exist, without computing the missing runs first")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("book", help="build the book; on a fresh checkout it executes one dataset's chapters first")
    p.add_argument("--default-dataset", default="GunPoint",
                   help="dataset whose notebooks are executed first when book/executed/ holds no dataset yet")
    p.add_argument("--profile", default="cpu", choices=PROFILES, help="profile of that first run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-strict", dest="strict", action="store_false", help="let Sphinx warnings pass")
    p.add_argument("--clean", action="store_true", help="remove the previous build first")
    p.set_defaults(func=cmd_book)

    from .grid import add_grid_command  # the grid engine owns its own arguments

    add_grid_command(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:
        if not isinstance(e, _expected_errors()):
            raise  # a bug: keep the traceback
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that come from the input (arguments, data, files, a damaged cache), not from a bug."""
    errors: list[type[BaseException]] = [DatasetError, UsageError, FileNotFoundError, FileExistsError,
                                         PermissionError, IsADirectoryError, NotADirectoryError]
    from .grid import GridError
    from .results import ResultsError
    from .train import CheckpointError

    return (*errors, CheckpointError, ResultsError, GridError)


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
