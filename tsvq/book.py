"""The book: its chapters, the generated table of contents and the strict HTML build.

The book is a Jupyter Book (1.x). Its notebooks are percent-format ``book/<name>.py`` files, executed
beforehand by papermill (:mod:`tsvq.runner`) into ``book/executed/``; the build only renders them. So
``_toc.yml`` is generated from what has been executed: a chapter appears once its notebook has run
successfully, and a per-dataset chapter gets one section per executed dataset.

Conventions for a chapter notebook ``book/<name>.py`` (add it to :data:`CHAPTERS`):

- starts with a markdown cell whose first line is the ``# Title``; for a per-dataset chapter the runner
  appends `` — <dataset>`` to it in the executed copy;
- has one code cell tagged ``parameters`` defining ``dataset``, ``profile``, ``seeds``, ``data_dir`` and
  ``results_dir``; papermill injects the run's values after it;
- calls into ``tsvq`` only (models, loops and figures live in the package, see :mod:`tsvq.plots`);
- writes its small metric files under :func:`results_path` (``results/<dataset>/<profile>/``) so that
  the summary chapter can gather every dataset.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

EXECUTED = "book/executed"  # papermill's output for the book, relative to the repository root
BOOK_PROFILE = "cpu"  # the profile whose executed notebooks the book shows
DEFAULT_RESULTS = "results"  # the repository's results folder (relative to the root)


@dataclass(frozen=True)
class Chapter:
    name: str  # book/<name>.md (scope "text") or book/<name>.py (a notebook)
    title: str
    scope: str  # text: markdown, never executed; book: executed once; dataset: executed per dataset
    part: str = ""  # caption of the sidebar part; "" for the root page
    lead: str = ""  # first paragraph of a per-dataset chapter's landing page


# The one ordered list of chapters. Notebooks that do not exist yet are skipped by the runner and the toc.
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("intro", "Introduction", "text"),
    Chapter("method", "Method", "book", "Background"),
    Chapter("datasets", "Datasets", "dataset", "Background",
            "The UCR datasets used in the book: split sizes, lengths, classes, examples and class balance."),
    Chapter("rq1", "RQ1 — Classification from the learned representation", "dataset", "Research questions",
            "Does the SSL extension improve downstream classification of the learned representation while "
            "still reconstructing well? Linear SVM and KNN probes on the pooled quantised latents, against "
            "the reconstruction error."),
    Chapter("rq2", "RQ2 — The influence of the augmentations on the tokenizer", "dataset", "Research questions",
            "How do the augmentations (warp, slice, gauss) influence reconstruction and downstream "
            "classification?"),
    Chapter("rq3", "RQ3 — Expressive tokens and prior learning", "dataset", "Research questions",
            "Do more expressive tokens make prior learning easier? Prior validation loss against epoch and "
            "the speed of convergence."),
    Chapter("rq4", "RQ4 — The influence of the augmentations on generation", "dataset", "Research questions",
            "How do the augmentations influence prior learning and the quality of synthetic samples? FID, IS, "
            "CAS and visual inspection."),
    Chapter("rq5", "RQ5 — Token prior against embedding prior", "dataset", "Research questions",
            "How does the SSL tokenizer fare under a stronger prior: the token MaskGIT against the embedding "
            "MaskGIT, in the full 2 × 2 of tokenizer and prior?"),
    Chapter("summary", "Summary of results", "book", "Results"),
    Chapter("conclusions", "Conclusions", "book", "Results"),
)
ROOT_CHAPTER = "intro"


def chapter(name: str) -> Chapter | None:
    return next((c for c in CHAPTERS if c.name == name), None)


def repo_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder holding ``_config.yml`` and ``book/``.

    Searched upwards from ``start`` (default: the working directory, so a notebook opened from
    ``book/`` finds it), then from this package's location (an editable install).
    """
    for base in (Path(start or Path.cwd()).resolve(), Path(__file__).resolve().parent):
        for d in (base, *base.parents):
            if (d / "_config.yml").is_file() and (d / "book").is_dir():
                return d
    raise FileNotFoundError(
        "no tsvq repository found (a folder with _config.yml and book/) above "
        f"{Path(start or Path.cwd()).resolve()}; run this from a checkout of the repository"
    )


def results_path(results_dir, dataset: str, profile: str, name: str) -> Path:
    """``<results_dir>/<dataset>/<profile>/<name>``, folders created.

    A relative ``results_dir`` is taken from the repository root, so a notebook writes to the same place
    whether papermill runs it from the root or a person opens it from ``book/``.
    """
    base = Path(results_dir).expanduser()
    if not base.is_absolute():
        base = repo_root() / base
    path = base / dataset / profile / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _resolve(path, root: Path) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def is_book_run(profile: str, results_dir=DEFAULT_RESULTS, root: Path | None = None) -> bool:
    """Whether a run's executed notebooks belong in the book: the book's profile, the repository's results."""
    root = Path(root or repo_root())
    return profile == BOOK_PROFILE and _resolve(results_dir, root) == _resolve(DEFAULT_RESULTS, root)


def executed_root(profile: str, results_dir=DEFAULT_RESULTS, root: Path | None = None) -> Path:
    """Where ``tsvq run`` puts the executed notebooks of a run.

    Only a run of the book's profile (``cpu``) into the repository's ``results/`` updates the book
    (``book/executed/``, then ``_toc.yml`` and the landing pages). Every other run keeps its executed
    copies beside its metric files, one folder per profile: ``<results_dir>/executed/<profile>/``,
    so a smoke run or a run into a scratch ``--results-dir`` never replaces a committed chapter.
    """
    root = Path(root or repo_root())
    if is_book_run(profile, results_dir, root):
        return root / EXECUTED
    return _resolve(results_dir, root) / "executed" / profile


# ----------------------------------------------------------------------------------------------- tables


def dataset_table(ds):
    """One row per split (TRAIN / VAL / TEST): number of series, length, and how many classes occur."""
    import pandas as pd

    m = ds.meta
    rows = [
        dict(split=s.upper(), series=len(ds.split(s)[1]), length=m.length,
             classes_present=int(len(set(ds.split(s)[1].tolist()))))
        for s in ("train", "val", "test")
    ]
    return pd.DataFrame(rows).set_index("split")


def class_balance_table(ds):
    """Series per class and split, with each class's share of the split in percent."""
    import numpy as np
    import pandas as pd

    k = ds.meta.n_classes
    out = {}
    for s in ("train", "val", "test"):
        counts = np.bincount(ds.split(s)[1], minlength=k)
        out[f"{s.upper()} n"] = counts
        out[f"{s.upper()} %"] = np.round(100 * counts / max(counts.sum(), 1), 1)
    return pd.DataFrame(out, index=pd.Index(ds.meta.class_names, name="class"))


def profile_table(profiles=("smoke", "cpu", "paper")):
    """The settings that differ between profiles, one row per field and one column per profile."""
    import pandas as pd

    from .config import get_config

    flat = {}
    for p in profiles:
        cfg = dataclasses.asdict(get_config(p))
        flat[p] = {f"{sec}.{k}": v for sec, sub in cfg.items() if isinstance(sub, dict) for k, v in sub.items()}
    keys = [k for k in flat[profiles[0]] if len({repr(flat[p][k]) for p in profiles}) > 1]
    return pd.DataFrame({p: [flat[p][k] for k in keys] for p in profiles}, index=pd.Index(keys, name="setting"))


# ----------------------------------------------------------------------------------------------- toc


def _notebook_state(path: Path) -> dict | None:
    """Papermill's record of an executed notebook, or None when it is unreadable or failed."""
    try:
        meta = json.loads(path.read_text()).get("metadata", {})
    except (OSError, ValueError):
        return None
    pm = meta.get("papermill", {})
    if pm.get("exception"):
        return None
    return pm


def executed_chapters(root: Path | None = None, executed: str = EXECUTED) -> list[tuple[Chapter, list[str]]]:
    """Chapters that can be rendered now, in book order, each with its executed datasets.

    A notebook whose execution failed is left out (its traceback is for the runner's report, not the
    book). ``text`` and ``book`` chapters carry an empty dataset list.
    """
    root = Path(root or repo_root())
    ex = root / executed
    out = []
    for ch in CHAPTERS:
        if ch.scope == "text":
            if (root / "book" / f"{ch.name}.md").is_file():
                out.append((ch, []))
        elif ch.scope == "book":
            if _notebook_state(ex / f"{ch.name}.ipynb") is not None:
                out.append((ch, []))
        else:
            folders = [d for d in ex.iterdir() if d.is_dir()] if ex.is_dir() else []
            datasets = sorted(d.name for d in folders if _notebook_state(d / f"{ch.name}.ipynb") is not None)
            if datasets:
                out.append((ch, datasets))
    return out


def _landing_page(ch: Chapter, datasets: list[str], ex: Path) -> str:
    """Markdown for a per-dataset chapter: the question, then one linked row per executed dataset."""
    lines = [f"# {ch.title}", "", ch.lead, "",
             "| dataset | profile | seeds | executed (UTC) |", "| --- | --- | --- | --- |"]
    for d in datasets:
        pm = _notebook_state(ex / d / f"{ch.name}.ipynb") or {}
        params = pm.get("parameters", {})
        when = str(pm.get("end_time") or "")[:16].replace("T", " ")
        seeds = ", ".join(str(s) for s in params.get("seeds", []))
        lines.append(f"| {{doc}}`{d} <{d}/{ch.name}>` | {params.get('profile', '')} | {seeds} | {when} |")
    lines += ["", "Each section is one executed copy of `book/" + ch.name + ".py`; re-run it with "
              "`make run DATASET=<name> PROFILE=<profile>`.", ""]
    return "\n".join(lines)


def toc_text(root: Path | None = None, executed: str = EXECUTED) -> str:
    """The ``_toc.yml`` text for what exists now; :func:`write_toc` also writes the landing pages."""
    root = Path(root or repo_root())
    q = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    lines = [
        "# Generated by tsvq.book.write_toc() from what book/executed/ holds; do not edit by hand.",
        "# Chapters and their order live in tsvq/book.py (CHAPTERS).",
        "format: jb-book",
        f"root: book/{ROOT_CHAPTER}",
    ]
    parts: dict[str, list[str]] = {}
    for ch, datasets in executed_chapters(root, executed):
        if ch.name == ROOT_CHAPTER:
            continue
        entry = parts.setdefault(ch.part, [])
        if ch.scope == "text":
            entry.append(f"  - file: book/{ch.name}")
        elif ch.scope == "book":
            entry.append(f"  - file: {executed}/{ch.name}")
        else:
            entry.append(f"  - file: {executed}/{ch.name}")
            entry.append("    sections:")
            entry += [f"    - file: {executed}/{d}/{ch.name}\n      title: {q(d)}" for d in datasets]
    if parts:
        lines.append("parts:")
        for caption, entries in parts.items():
            lines += [f"- caption: {q(caption)}", "  chapters:", *entries]
    return "\n".join(lines) + "\n"


def write_toc(root: Path | None = None, executed: str = EXECUTED) -> Path:
    """Regenerate ``_toc.yml`` so it lists exactly the chapters that exist and ran successfully."""
    root = Path(root or repo_root())
    ex = root / executed
    for ch, datasets in executed_chapters(root, executed):
        if ch.scope == "dataset":  # the chapter page above its per-dataset sections
            (ex / f"{ch.name}.md").write_text(_landing_page(ch, datasets, ex))
    path = root / "_toc.yml"
    path.write_text(toc_text(root, executed))
    return path


# ----------------------------------------------------------------------------------------------- build


def build_book(*, strict: bool = True, root: Path | None = None, clean: bool = False) -> Path:
    """Regenerate the toc and build the HTML book into ``_build/html``; returns that folder.

    ``strict`` turns every Sphinx warning into an error (``-W --keep-going``: all warnings are
    reported, then the build fails). ``clean`` removes the previous build first, so pages of chapters
    that no longer exist do not linger.
    """
    root = Path(root or repo_root())
    write_toc(root)
    if clean:
        import shutil

        shutil.rmtree(root / "_build", ignore_errors=True)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
           "--builder", "html"]
    if strict:
        cmd += ["--warningiserror", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}); the messages above say where")
    return root / "_build" / "html"


def main(argv=None) -> int:
    """``python -m tsvq.book``: build the book; on a checkout where no dataset ran yet, run one first."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tsvq.book", description=main.__doc__)
    ap.add_argument("--default-dataset", default="GunPoint",
                    help="dataset whose notebooks are executed first when book/executed/ holds no dataset yet")
    ap.add_argument("--profile", default="cpu", help="profile of that first run (smoke | cpu | paper)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-strict", dest="strict", action="store_false", help="let Sphinx warnings pass")
    ap.add_argument("--clean", action="store_true", help="remove the previous build first")
    args = ap.parse_args(argv)

    root = repo_root()
    failed = []
    if not any(datasets for ch, datasets in executed_chapters(root) if ch.scope == "dataset"):
        from .runner import run_book

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


if __name__ == "__main__":
    sys.exit(main())
