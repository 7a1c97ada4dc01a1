"""Execute the book's notebooks for one dataset with papermill.

Each ``book/<name>.py`` (percent format) is converted in memory with jupytext and executed by papermill
into ``<out_root>/<dataset>/<name>.ipynb`` (per-dataset chapters) or ``<out_root>/<name>.ipynb``
(chapters executed once, such as the method). ``out_root`` is ``book/executed`` for a run of the book's
profile into the repository's ``results/``, else ``<results_dir>/executed/<profile>`` (see
:func:`tsvq.book.executed_root`). The ``.py`` source is only ever read. A failing notebook is reported
with its path and failing cell, and the remaining notebooks still run.
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .book import CHAPTERS, EXECUTED_AS, chapter, executed_root, figure_label, page_inputs, repo_root

GRID_CHAPTERS = {"rq1", "rq2", "rq3", "rq4", "rq5", "gallery"}  # the chapters that read the dataset's grid

KERNEL_NAME = "tsvq"


@dataclass(frozen=True)
class NotebookResult:
    name: str
    source: Path  # the .py that was executed
    output: Path  # the executed .ipynb (written also when the notebook failed)
    ok: bool
    seconds: float
    error: str | None = None  # "ValueError: message"
    cell: int | None = None  # 0-based index of the failing cell in the source notebook
    line: int | None = None  # 1-based line of that cell's "# %%" marker in the .py

    def describe(self) -> str:
        if self.ok:
            return f"ok      {self.source} -> {self.output} ({self.seconds:.1f} s)"
        where = "" if self.cell is None else f" cell {self.cell}"
        where += "" if self.line is None else f" (line {self.line})"
        return f"FAILED  {self.source}{where}: {self.error}\n        executed copy with the traceback: {self.output}"


def ensure_kernel() -> str:
    """Register a Jupyter kernel named ``tsvq`` that runs this interpreter; return its name.

    Installed under ``sys.prefix`` (inside the venv), so a fresh venv needs no manual step and the
    notebooks run with exactly the packages the runner sees.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def argv0() -> str | None:
        try:
            return KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv[0]
        except NoSuchKernel:
            return None

    if argv0() != sys.executable:
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL_NAME, display_name="Python (tsvq)", prefix=sys.prefix)
        found = argv0()
        if found != sys.executable:
            raise RuntimeError(
                f"a kernel named {KERNEL_NAME!r} that runs {found} shadows the one just installed for "
                f"{sys.executable}; remove it with `jupyter kernelspec remove {KERNEL_NAME}` and retry"
            )
    return KERNEL_NAME


def notebook_sources(notebooks=None, root: Path | None = None) -> list[Path]:
    """The ``.py`` files to run: chapter names or paths; by default every chapter notebook that exists."""
    root = Path(root or repo_root())
    if notebooks is None:
        paths = [root / "book" / f"{c.name}.py" for c in CHAPTERS if c.scope != "text"]
        return [p for p in paths if p.is_file()]
    out = []
    for nb in notebooks:
        p = Path(nb)
        if p.suffix != ".py":
            p = root / "book" / f"{nb}.py"
        if not p.is_file():
            known = ", ".join(c.name for c in CHAPTERS if (root / "book" / f"{c.name}.py").is_file())
            raise FileNotFoundError(f"notebook {nb!r} not found at {p}; available: {known}")
        out.append(p.resolve())
    return out


def _cell_lines(py: Path) -> list[int]:
    """1-based line of every percent-format cell marker in the source."""
    return [i for i, line in enumerate(py.read_text().splitlines(), 1) if line.startswith("# %%")]


def _with_dataset_title(nb, dataset: str) -> None:
    """Append the dataset to the notebook's first ``# Title`` so each executed copy says what it shows."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            if lines and lines[0].startswith("# "):
                lines[0] = f"{lines[0]} — {dataset}"
                cell.source = "\n".join(lines)
            return


_NUMREF = re.compile(r"\{numref\}`(?:([^`<]*)<)?fig-([a-z0-9-]+)(>?)`")


def _with_dataset_labels(nb, dataset: str) -> None:
    """Point ``{numref}`fig-<name>``` in the markdown at this dataset's copy of the figure (:func:`figure_label`):
    figure labels are global to the book and every dataset has its own copy of a per-dataset page."""
    def sub(m):
        text = f"{m[1]}<" if m[1] is not None else ""
        return f"{{numref}}`{text}{figure_label(m[2], dataset)}{m[3]}`"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _NUMREF.sub(sub, cell.source)


def _present(nb) -> None:
    """The book shows results first: every code cell's source is folded behind a toggle (``hide-input``), and
    the parameters cell (the defaults; the run's values are in the page's reproduce box) is removed."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = list(cell.metadata.get("tags", []))
        if "parameters" in tags:
            tags += [] if "remove-cell" in tags else ["remove-cell"]
        elif not {"remove-cell", "remove-input", "hide-input"} & set(tags):
            tags.append("hide-input")
        cell.metadata["tags"] = tags


def _run_one(py: Path, *, out: Path, params: dict, kernel: str, cwd: Path, per_dataset: bool,
             progress: bool) -> NotebookResult:
    import jupytext
    import nbformat
    import papermill as pm
    from traitlets.config import Config

    name = py.stem
    nb = jupytext.read(py)  # in memory: nothing is written next to the source
    if per_dataset:
        _with_dataset_title(nb, params["dataset"])
        _with_dataset_labels(nb, params["dataset"])
    _present(nb)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python (tsvq)", "language": "python"}
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    os.environ[EXECUTED_AS] = str(out)  # the kernel inherits it: the page links its CSVs relative to itself
    try:
        pm.execute_notebook(
            nb, str(out), parameters=params, kernel_name=kernel, language="python", cwd=str(cwd),
            progress_bar={"desc": f"  {name}", "leave": False, "unit": "cell"} if progress else False,
            # encrypt the kernel's local sockets (CurveZMQ) where the kernel supports it
            config=Config(KernelManager={"transport_encryption": "auto"}),
        )
    except pm.PapermillExecutionError as e:
        if e.ename == "NoResults" and _end_at_no_results(out):  # the chapter has nothing to show yet
            _record_source(out, py, cwd, inputs=page_inputs(name, dataset=params["dataset"], profile=params["profile"],
                                                            results_dir=params["results_dir"]))
            return NotebookResult(name, py, out, True, time.perf_counter() - start)
        _record_source(out, py, cwd)
        executed = nbformat.read(out, as_version=4) if out.is_file() else None
        cell = _source_cell(executed, e.cell_index) if executed is not None else None
        lines = _cell_lines(py)
        line = lines[cell] if cell is not None and len(lines) == len(nb.cells) and cell < len(lines) else None
        return NotebookResult(name, py, out, False, time.perf_counter() - start, f"{e.ename}: {e.evalue}", cell, line)
    except Exception as e:  # the kernel died, a timeout, a broken notebook file
        return NotebookResult(name, py, out, False, time.perf_counter() - start, f"{type(e).__name__}: {e}")
    finally:
        os.environ.pop(EXECUTED_AS, None)
    _record_source(out, py, cwd, inputs=page_inputs(name, dataset=params["dataset"], profile=params["profile"],
                                                    results_dir=params["results_dir"]))
    return NotebookResult(name, py, out, True, time.perf_counter() - start)


def _end_at_no_results(out: Path) -> bool:
    """Make the cell that raised :class:`tsvq.book.NoResults` the page's end: its traceback, papermill's error
    banners and the cells after it go. False when the notebook holds no such cell."""
    import nbformat

    if not out.is_file():
        return False
    nb = nbformat.read(out, as_version=4)
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    stop = next((i for i, c in enumerate(cells) if any(o.get("output_type") == "error" and o.get("ename") == "NoResults"
                                                        for o in c.get("outputs", []))), None)
    if stop is None:
        return False
    cells[stop].outputs = [o for o in cells[stop].outputs if o.get("output_type") != "error"]
    nb.cells = cells[:stop + 1]
    nb.metadata.setdefault("papermill", {})["exception"] = False
    nbformat.write(nb, out)
    return True


def _record_source(out: Path, py: Path, root: Path, inputs: dict | None = None) -> None:
    """Point papermill's ``input_path`` at the .py (it holds the whole in-memory notebook otherwise), and
    remove papermill's injected-parameters cell from the page: its values hold machine paths, and the
    page's reproduce box states the dataset, profile and seeds. ``inputs`` (:func:`tsvq.book.page_inputs`) goes
    to the notebook metadata ``tsvq``, for the stale-page check of the build."""
    import nbformat

    if not out.is_file():
        return
    nb = nbformat.read(out, as_version=4)
    nb.metadata.setdefault("papermill", {})["input_path"] = str(py.relative_to(root) if py.is_relative_to(root) else py)
    if inputs is not None:
        nb.metadata["tsvq"] = inputs
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            cell.metadata["tags"] = [t for t in tags if t != "hide-input"] + \
                ([] if "remove-cell" in tags else ["remove-cell"])
    nbformat.write(nb, out)


def _source_cell(executed, index: int) -> int:
    """Map a cell index of the executed notebook to the source, skipping papermill's injected cell."""
    injected = sum(
        1 for c in executed.cells[:index] if "injected-parameters" in c.get("metadata", {}).get("tags", [])
    )
    return index - injected


def run_book(
    *,
    dataset: str,
    profile: str = "cpu",
    seeds=(0,),
    data_dir=None,
    notebooks=None,
    out_root=None,
    results_dir="results",
    progress: bool = True,
    grid: bool = True,
) -> list[NotebookResult]:
    """Compute the dataset's grid, then execute the book's notebooks for it, in book order; return one result
    per notebook.

    ``grid``: first run every unit of the dataset's grid (:func:`tsvq.grid.plan`: the seven tokenizers, both
    priors on each, the sample-quality anchors; units with current rows are skipped) in this process, its logs
    under ``<results_dir>/grid-logs``; the notebooks only read the result tables and name what is missing.

    ``notebooks``: chapter names (``"datasets"``) or ``.py`` paths; default: every chapter notebook that
    exists. ``out_root`` (default: :func:`tsvq.book.executed_root` of the profile and results folder)
    and a relative ``results_dir`` are taken from the repository root, which is also the notebooks'
    working directory. Failures do not stop the run; check ``all(r.ok ...)``.
    """
    from tqdm import tqdm

    from .config import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed, e.g. seeds=(0,)")
    root = repo_root()
    sources = notebook_sources(notebooks, root)
    if out_root is None:
        out_root = executed_root(profile, results_dir, root)
    out_root = Path(out_root) if Path(out_root).is_absolute() else root / out_root
    params = dict(
        dataset=dataset,
        profile=profile,
        seeds=seeds,
        # a relative data_dir means "relative to where the command was typed"; notebooks run from the root
        data_dir=None if data_dir is None else str(Path(data_dir).expanduser().resolve()),
        results_dir=str(results_dir),
    )
    from .data import load_ucr

    load_ucr(dataset, params["data_dir"])  # a dataset that cannot be read fails here, once, not in every notebook
    if grid and any(py.stem in GRID_CHAPTERS for py in sources):
        _run_grid(dataset, profile=profile, seeds=seeds, data_dir=params["data_dir"], root=root,
                  results_dir=results_dir)
    kernel = ensure_kernel()
    results = []
    bar = tqdm(sources, desc=f"{dataset} ({profile})", unit="notebook", disable=not progress)
    for py in bar:
        ch = chapter(py.stem)
        per_dataset = ch is None or ch.scope == "dataset"
        out = out_root / dataset / f"{py.stem}.ipynb" if per_dataset else out_root / f"{py.stem}.ipynb"
        bar.set_postfix_str(py.stem)
        r = _run_one(py, out=out, params=params, kernel=kernel, cwd=root, per_dataset=per_dataset,
                    progress=progress)
        results.append(r)
        if not r.ok:
            tqdm.write(r.describe(), file=sys.stderr)
    bar.close()
    return results


def _run_grid(dataset: str, *, profile: str, seeds, data_dir, root: Path, results_dir) -> None:
    import torch

    from .grid import execute, plan

    base = Path(str(results_dir)).expanduser()
    base = base if base.is_absolute() else root / base
    from .data import load_ucr
    from .experiments import gallery_backfill

    units = plan([dataset], seeds, profile=profile, results_dir=str(base), data_dir=data_dir,
                 threads=torch.get_num_threads())
    if units:
        print(f"{dataset} ({profile}): {len(units)} runs of the grid to compute before the chapters", flush=True)
        failed = [r for r in execute(units, executor="debug", log_dir=base / "grid-logs") if not r["ok"]]
        for r in failed:
            print(f"grid run {r['unit']} failed: {r['error']} (log: {r['log']}); its chapters show it as missing",
                  file=sys.stderr)
    gallery_backfill(load_ucr(dataset, data_dir), profile=profile, seeds=seeds, results_dir=str(base))
