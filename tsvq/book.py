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
import re
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
    Chapter("intro", "Introduction", "book"),
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
    Chapter("gallery", "Gallery — real series and samples", "dataset", "Results",
            "Real TEST series beside class-conditional samples of every tokenizer × prior, per class, on shared "
            "axes."),
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


# ----------------------------------------------------------------------------------------------- presentation
#
# What a chapter shows goes through three helpers: :func:`figure` (a numbered, captioned figure),
# :func:`table` (a table without the pandas index, at 3 significant digits, that wraps instead of
# overflowing) and :func:`reproduce` (the box at the end of a page that says how to re-run it).

EXECUTED_AS = "TSVQ_EXECUTED_AS"  # set by the runner: the path of the executed copy being written
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_CELL = re.compile(r"^(?P<mean>\S+)(?: ± (?P<std>\S+))? \(n=(?P<n>\d+)\)$")
HEADERS = {"baseline_mean": "baseline mean", "p_value": "p", "p_holm": "Holm p", "n": "n (seeds)",
           "95 % CI": "95 % CI of the difference", "gain_difference": "gain − naive", "gain_ci": "95 % CI",
           "gain_p_holm": "Holm p", "gain_verdict": "verdict (gain)", "loss_difference": "loss − naive",
           "loss_verdict": "verdict (loss)"}
TABLE_CSS = (
    "<style>.tsvq-table{max-width:100%;overflow-x:auto}"
    ".tsvq-table table{border-collapse:collapse;font-size:0.78rem;line-height:1.25;margin:0.2rem 0 0.8rem 0}"
    ".tsvq-table th,.tsvq-table td{padding:0.15rem 0.45rem;border-bottom:1px solid #ddd;vertical-align:top;"
    "white-space:normal;overflow-wrap:break-word;max-width:11rem}"
    ".tsvq-table th{text-align:left;vertical-align:bottom;font-weight:600}"
    ".tsvq-table td.num{text-align:right}"
    ".tsvq-table table.tsvq-wide{font-size:0.72rem}.tsvq-table table.tsvq-wide th,.tsvq-table table.tsvq-wide td"
    "{padding:0.15rem 0.3rem}"
    ".tsvq-table caption{caption-side:bottom;font-size:0.75rem;color:#555;text-align:left}</style>"
)


def sig(x, digits: int = 3) -> str:
    """``x`` rounded to ``digits`` significant digits, without an exponent between 0.001 and 10⁶."""
    import math

    if x is None or isinstance(x, str):
        return "" if x is None else x
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return ""
    if math.isinf(x) or x == 0:
        return "0" if x == 0 else str(x)
    mag = math.floor(math.log10(abs(x)))
    if not -3 <= mag < 6:
        return f"{x:.{digits - 1}e}"
    places = digits - 1 - mag
    x = round(x, places)
    return f"{x:.{max(0, places)}f}"


def _num(text: str, digits: int) -> str:
    """A number printed by ``report.cell`` at ``digits`` significant digits (whole numbers stay whole)."""
    if not _NUMBER.fullmatch(text):
        return text
    x = float(text)  # a count stays whole; a small whole number may be a rounded measure (1 for 0.99997)
    return str(int(x)) if x.is_integer() and 10 <= abs(x) < 1e6 else sig(x, digits)


def _tidy_cell(text: str, digits: int) -> tuple[str, int | None]:
    """A ``report.cell`` text ("0.8924 ± 0.016 (n=5)") at ``digits`` significant digits, and its n."""
    m = _CELL.match(text)
    if not m:
        return text, None
    mean = _num(m["mean"], digits)
    std = _num(m["std"], digits) if m["std"] else m["std"]
    if std and "." in std and "e" not in std:  # the std carries no more digits than report.cell gave it
        std = std.rstrip("0").rstrip(".")
    return (f"{mean} ± {std}" if std else mean), int(m["n"])


def table(df, *, digits: int = 3, drop_constant=("dataset", "profile"), caption: str = "", small: bool | None = None):
    """A DataFrame as the book shows it: HTML without the pandas index (named index levels become
    columns), numbers at ``digits`` significant digits, columns that are always empty left out, the
    ``drop_constant`` columns left out where one value fills them (the page already says which dataset
    and profile), headers in words, and cells that wrap so that the table fits the page; ``small`` sets the
    smaller type of a wide table (default: more than nine columns).

    Cells of :func:`tsvq.report.summarize` ("mean ± std (n=k)") lose the repeated "(n=k)" when every
    cell has the same n, which the caption then states once.
    """
    import html

    import numpy as np
    import pandas as pd
    from IPython.display import HTML

    if len(df) == 0:
        return HTML("<p><em>No rows: nothing of this kind was run for this dataset, profile and seeds.</em></p>")
    t = df.copy()
    if any(name is not None for name in t.index.names):
        t = t.reset_index()
    t = t.reset_index(drop=True)
    empty = [c for c in t.columns if t[c].isna().all() or t[c].astype(str).str.strip().isin(["", "nan", "None"]).all()]
    constant = [c for c in drop_constant if c in t.columns and t[c].nunique(dropna=False) <= 1]
    t = t.drop(columns=empty + constant)
    said = [c for c in ("note",) if c in t.columns and t[c].nunique(dropna=False) == 1 and len(t) > 1]
    notes = [f"every row: {t[c].iloc[0]}" for c in said]  # one note for every row goes under the table, once
    t = t.drop(columns=said)
    if "metric" in t.columns:
        t["metric"] = [str(m).replace("_", " ") for m in t["metric"]]
    ns = set()
    cells = {}
    numeric = {}
    for c in t.columns:
        col = t[c]
        if pd.api.types.is_bool_dtype(col):
            cells[c] = ["yes" if v else "no" for v in col]
            numeric[c] = False
        elif pd.api.types.is_numeric_dtype(col):
            integral = pd.api.types.is_integer_dtype(col) or (col.dropna() == col.dropna().round()).all() and \
                (col.dropna().abs() < 1e6).all()
            cells[c] = ["" if pd.isna(v) else (str(int(v)) if integral else sig(v, digits)) for v in col]
            numeric[c] = True
        else:
            out = []
            for v in col:
                if isinstance(v, float) and np.isnan(v):
                    out.append("")
                    continue
                text, n = _tidy_cell(str(v), digits)
                if n is not None:
                    ns.add(n)
                out.append(text)
            cells[c] = out
            numeric[c] = False
    one_n = len(ns) == 1
    if not one_n:  # put the n back where the cells differ in it
        for c in t.columns:
            if not numeric[c]:
                tidy = [_tidy_cell(str(v), digits) for v in t[c]]
                cells[c] = [text if n is None else f"{text} (n={n})" for text, n in tidy]
    if one_n:
        n = ns.pop()
        notes.insert(0, f"mean ± std over n = {n} seed{'s' if n != 1 else ''}" if n > 1 else
                     "one seed: the mean, no std")
    if caption:
        notes.insert(0, caption)
    head = "".join(f"<th>{html.escape(HEADERS.get(str(c), str(c).replace('_', ' ')))}</th>" for c in t.columns)
    td = {c: '<td class="num">' if numeric[c] else "<td>" for c in t.columns}
    body = "".join("<tr>" + "".join(f"{td[c]}{html.escape(cells[c][i])}</td>" for c in t.columns) + "</tr>"
                   for i in range(len(t)))
    cap = f"<caption>{html.escape('; '.join(notes))}</caption>" if notes else ""
    if small is None:
        small = len(t.columns) > 9
    small = ' class="tsvq-wide"' if small else ""  # many columns: smaller type, narrower padding
    return HTML(f'{TABLE_CSS}<div class="tsvq-table"><table{small}>{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")


SHORT_LEGEND = "BT: Barlow Twins, VIbC: VIbCReg"


def short_settings(df):
    """``df`` with its setting columns named short (barlowtwins-warp -> BT-warp; :data:`SHORT_LEGEND`), so that
    seven settings side by side fit the page."""
    return df.rename(columns=lambda c: str(c).replace("barlowtwins", "BT").replace("vibcreg", "VIbC"))


def figure_label(name: str, dataset: str | None = None) -> str:
    """The cross-reference label of a figure: ``fig-<name>``, or ``fig-<dataset>-<name>`` on a per-dataset
    page (labels are global to the book, and each dataset has its own copy of the page). The runner
    rewrites ``{numref}`fig-<name>``` in the markdown of a per-dataset page to match."""
    return f"fig-{dataset.lower()}-{name}" if dataset else f"fig-{name}"


def figure(fig, name: str, caption: str, *, dataset: str | None = None, alt: str = "", intro: str = ""):
    """Show ``fig`` as a numbered figure with ``caption``: glued under ``name`` (``myst_nb.glue``) and placed
    by a ``{glue:figure}`` directive labelled :func:`figure_label`, so the text can cite it with
    ``{numref}`fig-<name>```. The caption says what is shown, on how many series and seeds.

    ``intro``: a sentence shown above the figure, ``{ref}`` in it replaced by the citation; for a figure
    drawn only when its data exists, whose citation cannot sit in the chapter's fixed text."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, fig, display=False)
    alt = " ".join((alt or caption).split())[:250].replace("`", "")
    caption = " ".join(caption.split())
    label = figure_label(name, dataset)
    intro = intro.replace("{ref}", f"{{numref}}`{label}`") + "\n\n" if intro else ""
    return Markdown(f"{intro}```{{glue:figure}} {name}\n:name: {label}\n:alt: {alt}\n"
                    f":figwidth: 100%\n\n{caption}\n```")


def _executed_path(chapter_name: str, dataset: str, profile: str, results_dir) -> Path:
    import os

    if os.environ.get(EXECUTED_AS):
        return Path(os.environ[EXECUTED_AS])
    ch = chapter(chapter_name)
    base = executed_root(profile, results_dir)
    return base / dataset / f"{chapter_name}.ipynb" if ch is None or ch.scope == "dataset" else \
        base / f"{chapter_name}.ipynb"


def _relpath(target: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def seeds_text(seeds) -> str:
    """"5 seeds (0, 1, 2, 3, 4)": the seeds of a page in words."""
    seeds = [int(s) for s in seeds]
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"


def seeds_present(table, seeds) -> str:
    """:func:`seeds_text` of the requested ``seeds`` that ``table`` holds rows of: what a caption's "mean over"
    really averages while a grid is partly run; "3–5 seeds (0, 1, 2, 3, 4)" when its runs (settings, priors) hold
    different numbers of seeds."""
    seeds = [int(s) for s in seeds]
    if table is None or table.empty:
        return f"none of {seeds_text(seeds)} yet"
    rows = table[table["seed"].isin(seeds)]
    present = sorted(int(s) for s in rows["seed"].unique())
    runs = [c for c in ("setting", "prior") if c in rows.columns]
    counts = rows.groupby(runs)["seed"].nunique() if runs else None
    if counts is not None and counts.min() != counts.max():
        return f"{counts.min()}–{counts.max()} seeds ({', '.join(map(str, present))})"
    return seeds_text(present)


def stage1_length(cfg, n_train: int) -> str:
    """"500 epochs of 4 steps": how long a tokenizer of this profile trains on a TRAIN split of ``n_train``, and
    which bound set it (the profile's ``min_steps`` for a small dataset, its step budget for a large one)."""
    from .train import n_epochs

    c = cfg.stage1
    spe = max(1, -(-n_train // c.batch_size))
    epochs = n_epochs(c, n_train)
    text = f"{epochs} stage-1 epochs of {spe} step{'s' if spe != 1 else ''}"
    if epochs < c.epochs:
        return text + (f" (the profile's budget of {c.max_steps} steps binds: its {c.epochs} epochs would take "
                       f"{c.epochs * spe})")
    if epochs > c.epochs:
        return text + f" (at least {c.min_steps} steps: more than the profile's {c.epochs} epochs)"
    return text


def setup(dataset: str, profile: str, seeds, data_dir=None):
    """The preamble of a dataset's chapter: ``(ds, cfg, n_seeds)``, the data (one VAL split for every seed: the
    seeds vary the models, not the data), the profile's configuration and :func:`seeds_text`."""
    from .config import get_config
    from .data import load_ucr

    return load_ucr(dataset, data_dir), get_config(profile), seeds_text(seeds)


class NoResults(Exception):
    """Raised by :func:`stop_unless` in a chapter with nothing to show yet; the runner keeps the page up to that
    cell (the question, the missing runs and the sentence saying so) as a successful page."""


def stop_unless(*tables, what: str = "results", why: str | None = None):
    """End the chapter here, as a complete page, when every table is empty: nothing below could be computed.
    ``why`` replaces the default sentence (no ``what`` yet, the grid computes them)."""
    if all(t is None or t.empty for t in tables):
        from IPython.display import Markdown, display

        display(Markdown(why or f"No {what} for this dataset and profile yet: the rest of this chapter appears once "
                         "the grid has computed them (see the box above)."))
        raise NoResults(what)


def missing(*tables, dataset: str, profile: str, seeds):
    """A warning box naming the runs a page lacks (``.attrs["missing"]`` of :func:`tsvq.experiments.grid_rows`),
    grouped by tokenizer and prior with their seeds, and the command that computes them; nothing when none
    is missing. The page shows what exists: a missing run is named here, never silently dropped."""
    from IPython.display import Markdown

    groups: dict[str, list[int]] = {}
    for name in sorted({m for t in tables for m in t.attrs.get("missing", [])}):
        _, _, seed, *rest = name.split("/")
        if len(rest) == 1:
            what = f"{rest[0]} tokenizer"
        elif rest[1] == "reference":
            what = f"sample-quality anchors ({rest[0]} tokenizer)"
        else:
            what = f"{rest[0]} tokenizer + {rest[1]} prior"
        groups.setdefault(what, []).append(int(seed[4:]))
    if not groups:
        return Markdown("")
    n = sum(len(v) for v in groups.values())
    lines = [":::{admonition} Runs still missing", ":class: warning", "",
             f"{n} run{'s' if n != 1 else ''} of this page's grid ha{'ve' if n != 1 else 's'} no result for the "
             f"current `{profile}` configuration yet; the tables, figures and tests below use the runs that "
             "exist. Missing:", ""]
    lines += [f"- {what}: seed{'s' if len(v) != 1 else ''} {', '.join(map(str, sorted(set(v))))}"
              for what, v in groups.items()]
    lines += ["", f"Compute them with `tsvq grid --datasets {dataset} --seeds {' '.join(map(str, seeds))} "
                  f"--profile {profile}` (or `tsvq run`, which runs the grid before the chapters).", ":::"]
    return Markdown("\n".join(lines))


def reproduce(chapter_name: str, *, dataset: str, profile: str, seeds, results_dir, files=(),
              all_datasets: bool = False):
    """The "Reproduce this page" box that ends an executed chapter, as MyST markdown.

    It holds the command that re-runs the page, the git commit (:func:`tsvq.results.git_commit`), the
    profile and seeds, the ``config_hash`` values of the result rows the page read, the torch version
    and device, and links (relative paths, copied into the built book as downloads) to those result
    CSVs. ``files`` are CSV names under ``<results_dir>/<dataset>/<profile>/``; with ``all_datasets``
    under every ``<results_dir>/*/*/`` (a page that gathers every dataset and profile).
    """
    import pandas as pd
    import torch
    from IPython.display import Markdown

    from .results import git_commit, read_table
    from .utils import default_device

    ch = chapter(chapter_name)
    per_dataset = ch is None or ch.scope == "dataset"
    seeds = [int(s) for s in seeds]
    base = Path(results_dir).expanduser()
    base = base if base.is_absolute() else repo_root() / base
    paths = []
    for name in files:
        found = sorted(base.glob(f"*/*/{name}")) if all_datasets else [base / dataset / profile / name]
        paths += [p for p in found if p.is_file()]
    page_dir = _executed_path(chapter_name, dataset, profile, results_dir).parent
    cmd = f"tsvq run --dataset {dataset} --profile {profile} --seeds {' '.join(map(str, seeds))} --notebooks {chapter_name}"
    if not Path(str(results_dir)).is_absolute() and str(results_dir) != DEFAULT_RESULTS:
        cmd += f" --results-dir {results_dir}"
    device = default_device()
    where = f"{device.type} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type
    lines = [":::{admonition} Reproduce this page", ":class: tip", "",
             f"- command: `{cmd}`" + ("" if per_dataset else " (the dataset only names the run: this page reads "
                                                            "every dataset under the results folder)"),
             f"- tsvq commit `{git_commit() or 'unknown'}`, profile `{profile}`, seeds {', '.join(map(str, seeds))}",
             f"- torch {torch.__version__}, device {where}"]
    if paths:
        lines.append("- result files read, with the `config_hash` of the rows used:")
        for p in paths:
            try:
                df = read_table(p)
            except (OSError, ValueError, RuntimeError, pd.errors.EmptyDataError):
                df = pd.DataFrame()
            if "seed" in df.columns:
                df = df[df["seed"].isin(seeds)] if not all_datasets else df
            if "config_hash" in df.columns and df["config_hash"].notna().any():
                hashes = sorted(set(df["config_hash"].dropna().astype(str)))
                shown = ", ".join(f"`{h[:10]}`" for h in hashes)
                about = f"{len(hashes)} config_hash value{'s' if len(hashes) != 1 else ''}: {shown}"
            else:
                about = "no config_hash column: rows of no trained model, or written before the column existed"
            link = p.relative_to(base).as_posix()
            lines.append(f"  - {{download}}`{link} <{_relpath(p, page_dir)}>` ({about})")
    lines += [":::"]
    return Markdown("\n".join(lines))


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


FINDING_START = "```{admonition} Finding"


def page_finding(path: Path) -> str | None:
    """The finding box an executed chapter page shows (its first markdown output that is one), or None."""
    try:
        cells = json.loads(Path(path).read_text()).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown")
            text = "".join(text) if isinstance(text, list) else text
            if text and text.lstrip().startswith(FINDING_START):
                return text.strip()
    return None


def _landing_page(ch: Chapter, datasets: list[str], ex: Path) -> str:
    """Markdown for a per-dataset chapter: the question, one linked row per executed dataset, then each
    dataset's finding box as its page shows it, so that one page answers the question for every dataset."""
    lines = [f"# {ch.title}", "", ch.lead, "",
             "| dataset | profile | seeds | executed (UTC) |", "| --- | --- | --- | --- |"]
    findings = []
    for d in datasets:
        page = ex / d / f"{ch.name}.ipynb"
        pm = _notebook_state(page) or {}
        params = pm.get("parameters", {})
        when = str(pm.get("end_time") or "")[:16].replace("T", " ")
        seeds = ", ".join(str(s) for s in params.get("seeds", []))
        lines.append(f"| {{doc}}`{d} <{d}/{ch.name}>` | {params.get('profile', '')} | {seeds} | {when} |")
        box = page_finding(page)
        if box:
            findings += [f"## {d}", "", f"{{doc}}`The {d} page <{d}/{ch.name}>` ({params.get('profile', '')}, seeds "
                         f"{seeds}):", "", box, ""]
    lines += ["", "Each section is one executed copy of `book/" + ch.name + ".py`; re-run it with "
              "`make run DATASET=<name> PROFILE=<profile>`.", ""]
    if ch.name.startswith("rq"):
        lines += ["Every dataset side by side, one grid per metric of the paired differences marked by their "
                  "verdicts, is in the {doc}`Conclusions <conclusions>`; the view across datasets in the "
                  "{doc}`Summary of results <summary>`.", ""]
    if findings:
        lines += ["The finding of each dataset's page, as that page computed it:", "", *findings]
    return "\n".join(lines)


def _root_page(root: Path, executed: str) -> str:
    """The executed introduction (it computes the answers in brief), else a plain ``book/intro.md``."""
    if _notebook_state(root / executed / f"{ROOT_CHAPTER}.ipynb") is not None:
        return f"{executed}/{ROOT_CHAPTER}"
    return f"book/{ROOT_CHAPTER}"


def toc_text(root: Path | None = None, executed: str = EXECUTED) -> str:
    """The ``_toc.yml`` text for what exists now; :func:`write_toc` also writes the landing pages."""
    root = Path(root or repo_root())
    q = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    lines = [
        "# Generated by tsvq.book.write_toc() from what book/executed/ holds; do not edit by hand.",
        "# Chapters and their order live in tsvq/book.py (CHAPTERS).",
        "format: jb-book",
        f"root: {_root_page(root, executed)}",
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


# What a page's numbers depend on: the grid's tables (not the small tables chapters write for download).
DEPENDS = {"rq1": "dataset", "rq2": "dataset", "rq3": "dataset", "rq4": "dataset", "rq5": "dataset",
           "gallery": "dataset", "intro": "all", "summary": "all", "conclusions": "all"}


def _grid_tables() -> tuple[str, ...]:
    from .experiments import KEYS

    return (*KEYS, "stage1_longer_training.csv")


def profile_fingerprint(profile: str) -> str:
    """One hash of a profile's whole configuration and the metric code's version: a page executed under another
    fingerprint shows numbers of another configuration."""
    from .config import get_config
    from .experiments import EVAL_VERSION
    from .utils import config_hash

    return config_hash(get_config(profile), EVAL_VERSION)


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def page_inputs(chapter_name: str, *, dataset: str, profile: str, results_dir) -> dict:
    """The record an executed page keeps of what it was computed from (notebook metadata ``tsvq``): the profile,
    its :func:`profile_fingerprint`, and the content hash of every grid table it could read (its dataset's, or
    every dataset's for the pages that gather all), paths relative to the results folder."""
    base = Path(str(results_dir)).expanduser()
    base = base if base.is_absolute() else repo_root() / base
    scope = DEPENDS.get(chapter_name)
    files = []
    if scope:
        folders = [base / dataset / profile] if scope == "dataset" else sorted(base.glob(f"*/{profile}"))
        files = [f / t for f in folders for t in _grid_tables() if (f / t).is_file()]
    return {"profile": profile, "dataset": dataset, "config": profile_fingerprint(profile),
            "results": {f.relative_to(base).as_posix(): _sha(f) for f in files}}


def stale_pages(root: Path | None = None, executed: str = EXECUTED, results_dir=DEFAULT_RESULTS) -> list[str]:
    """Executed pages older than what they show: no record of their inputs, another configuration of their
    profile, or a grid table that changed, appeared or vanished since they ran. One line per page, with why."""
    root = Path(root or repo_root())
    out = []
    for ch, datasets in executed_chapters(root, executed):
        if ch.scope == "text":
            continue
        for d in datasets or [None]:
            path = root / executed / (f"{d}/{ch.name}.ipynb" if d else f"{ch.name}.ipynb")
            rec = (json.loads(path.read_text()).get("metadata", {}) or {}).get("tsvq")
            name = path.relative_to(root).as_posix()
            if not rec:
                out.append(f"{name}: no record of the configuration and results it was executed with")
                continue
            now = page_inputs(ch.name, dataset=rec["dataset"], profile=rec["profile"],
                              results_dir=Path(root) / results_dir)
            if now["config"] != rec["config"]:
                out.append(f"{name}: executed under another configuration of profile {rec['profile']!r}")
                continue
            changed = sorted(k for k in set(now["results"]) | set(rec["results"])
                             if now["results"].get(k) != rec["results"].get(k))
            if changed:
                out.append(f"{name}: older than {', '.join(changed[:3])}" + (" …" if len(changed) > 3 else ""))
    return out


def build_book(*, strict: bool = True, root: Path | None = None, clean: bool = False) -> Path:
    """Regenerate the toc and build the HTML book into ``_build/html``; returns that folder.

    ``strict`` turns every Sphinx warning into an error (``-W --keep-going``: all warnings are
    reported, then the build fails). ``clean`` removes the previous build first, so pages of chapters
    that no longer exist do not linger.
    """
    root = Path(root or repo_root())
    write_toc(root)
    stale = stale_pages(root)
    if stale:
        msg = "\n".join(f"  {line}" for line in stale)
        if strict:
            raise RuntimeError(f"{len(stale)} executed page(s) are stale; re-run them (`tsvq run`):\n{msg}")
        print(f"warning: {len(stale)} stale page(s):\n{msg}", file=sys.stderr)
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
