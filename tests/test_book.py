"""The book machinery: papermill runner, jupytext sources and the generated table of contents."""
from __future__ import annotations

import ast
import base64
import hashlib
import json
import textwrap
from pathlib import Path

import nbformat
import pytest

jupytext = pytest.importorskip("jupytext")
pytest.importorskip("papermill")

from tsvq.book import CHAPTERS, repo_root, toc_text, write_toc  # noqa: E402
from tsvq.data import DatasetError  # noqa: E402
from tsvq.runner import run_book  # noqa: E402

ROOT = repo_root(Path(__file__).parent)
PARAMETERS = {"dataset": "GunPoint", "profile": "cpu", "seeds": [0], "data_dir": None, "results_dir": "results"}

FAILING = textwrap.dedent(
    '''\
    # %% [markdown]
    # # A chapter that fails

    # %% tags=["parameters"]
    dataset = "GunPoint"
    profile = "cpu"
    seeds = [0]
    data_dir = None
    results_dir = "results"

    # %%
    x = 1

    # %%
    raise ValueError(f"deliberate failure on {dataset}")

    # %%
    print("never reached")
    '''
)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One runner call: a failing notebook first, then the real datasets chapter (smoke, GunPoint)."""
    tmp = tmp_path_factory.mktemp("book")
    failing = tmp / "failing.py"
    failing.write_text(FAILING)
    sources = [failing, ROOT / "book" / "datasets.py"]
    before = {p: sha(p) for p in sources}
    paired_before = (ROOT / "book" / "_notebooks").exists()
    results = run_book(dataset="GunPoint", profile="smoke", seeds=(0,), notebooks=[failing, "datasets"],
                       out_root=tmp / "executed", results_dir=tmp / "results", progress=False)
    return dict(tmp=tmp, results=results, sources=sources, before=before, paired_before=paired_before)


def test_failing_notebook_is_reported_with_its_cell_and_the_rest_still_runs(run):
    failed, datasets = run["results"]
    assert not failed.ok and datasets.ok
    assert failed.error == "ValueError: deliberate failure on GunPoint"
    assert failed.cell == 3  # markdown, parameters, x = 1, raise
    lines = run["sources"][0].read_text().splitlines()
    assert lines[failed.line - 1] == "# %%" and lines[failed.line].startswith("raise ValueError")
    assert "cell 3" in failed.describe() and str(failed.source) in failed.describe()
    # the executed copy keeps the traceback and stops at the failing cell
    nb = nbformat.read(failed.output, as_version=4)
    assert nb.metadata.papermill.exception is True
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ValueError"]
    assert not any("never reached" in o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_datasets_notebook_executes_with_outputs_and_figures(run):
    r = run["results"][1]
    assert r.output == run["tmp"] / "executed" / "GunPoint" / "datasets.ipynb"
    nb = nbformat.read(r.output, as_version=4)
    assert nb.metadata.papermill.parameters == {**PARAMETERS, "profile": "smoke",
                                                "results_dir": str(run["tmp"] / "results")}
    assert nb.metadata.papermill.input_path == "book/datasets.py"
    assert nb.cells[0].source.startswith("# Datasets — GunPoint")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code if "parameters" not in c.metadata.get("tags", []))
    pngs = [v for c in code for o in c.outputs for k, v in o.get("data", {}).items() if k.endswith("image/png")]
    assert len(pngs) >= 2  # examples per class and class balance, glued for captioned figures
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # code is folded behind a toggle; the parameters (defaults and injected, with machine paths) are removed
    for c in code:
        tags = c.metadata.get("tags", [])
        hidden = {"parameters", "injected-parameters"} & set(tags)
        assert ("remove-cell" in tags) if hidden else ("hide-input" in tags), (tags, c.source[:60])
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in code)
    markdown = [o.data["text/markdown"] for c in code for o in c.outputs if "text/markdown" in o.get("data", {})]
    # every figure is numbered and captioned, under a label of its dataset, and the text cites it
    figures = [m for m in markdown if m.startswith("```{glue:figure}")]
    assert [m.split(":name: ")[1].split("\n")[0] for m in figures] == ["fig-gunpoint-examples", "fig-gunpoint-balance"]
    assert all("seed 0" in m.split("\n\n", 1)[1] for m in figures)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "{numref}`fig-gunpoint-examples`" in text and "{numref}`fig-gunpoint-balance`" in text
    # the page ends with its reproduce box: command, commit, profile, seeds, versions, links to its CSVs
    box = markdown[-1]
    assert box.startswith(":::{admonition} Reproduce this page")
    assert "`tsvq run --dataset GunPoint --profile smoke --seeds 0 --notebooks datasets`" in box
    assert "torch " in box and "device " in box and "tsvq commit" in box
    links = [line.split("<", 1)[1].split(">`", 1)[0] for line in box.splitlines() if "{download}" in line]
    assert len(links) == 2 and all((r.output.parent / link).resolve().is_file() for link in links)
    assert str(run["tmp"]) not in "\n".join(markdown)  # no machine path on the page
    # the small metric files hold the real split sizes of GunPoint (50 TRAIN -> 40 + 10 VAL, 150 TEST)
    splits = (run["tmp"] / "results" / "GunPoint" / "smoke" / "datasets_splits.csv").read_text().splitlines()
    assert splits[1:] == ["TRAIN,40,150,2", "VAL,10,150,2", "TEST,150,150,2"]


def test_sources_are_never_written(run):
    assert {p: sha(p) for p in run["sources"]} == run["before"]
    assert (ROOT / "book" / "_notebooks").exists() == run["paired_before"]


def test_runner_rejects_unknown_notebooks_and_profiles():
    with pytest.raises(FileNotFoundError, match="no_such_chapter"):
        run_book(dataset="GunPoint", profile="smoke", notebooks=["no_such_chapter"], progress=False)
    with pytest.raises(ValueError, match="unknown profile"):
        run_book(dataset="GunPoint", profile="fast", notebooks=["datasets"], progress=False)
    with pytest.raises(DatasetError, match="'NoSuchSet' not found"):
        run_book(dataset="NoSuchSet", profile="smoke", notebooks=["datasets"], data_dir=ROOT / "book",
                 progress=False)


def test_every_chapter_notebook_follows_the_conventions():
    """Percent-format source, a title, and a parameters cell with the five parameters and their defaults."""
    notebooks = [ROOT / "book" / f"{c.name}.py" for c in CHAPTERS if (ROOT / "book" / f"{c.name}.py").is_file()]
    assert {p.stem for p in notebooks} >= {"method", "datasets"}
    for path in notebooks:
        nb = jupytext.read(path)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), path
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, path
        tree = ast.parse(params[0].source)
        values = {t.id: ast.literal_eval(s.value) for s in tree.body for t in s.targets}
        assert values == PARAMETERS, path
        assert not any(c.get("outputs") for c in nb.cells), path


def test_jupytext_pairs_sources_outside_the_book_and_leaves_executed_copies_alone():
    from jupytext.config import find_jupytext_configuration_file, load_jupytext_configuration_file
    from jupytext.paired_paths import paired_paths

    config = load_jupytext_configuration_file(find_jupytext_configuration_file(str(ROOT / "book")))
    src = str(ROOT / "book" / "method.py")
    paths = [p for p, _ in paired_paths(src, "py:percent", config.default_formats(src))]
    assert paths == [str(ROOT / "book" / "_notebooks" / "method.ipynb"), src]
    executed = str(ROOT / "book" / "executed" / "GunPoint" / "datasets.ipynb")
    assert config.default_formats(executed) is None  # never paired: opening it cannot create a .py


def _executed(path: Path, *, failed: bool = False, profile: str = "cpu", finding: str | None = None) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    if finding:
        cell = nbformat.v4.new_code_cell("Markdown(finding)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "Intro text, no box"}),
                        nbformat.v4.new_output("execute_result", data={"text/markdown": finding}, execution_count=1)]
        nb.cells.append(cell)
    nb.metadata["papermill"] = {"exception": failed, "parameters": {**PARAMETERS, "profile": profile},
                                "end_time": "2024-05-01T10:00:00"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_toc_lists_exactly_the_successfully_executed_chapters(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    ex = tmp_path / "book" / "executed"
    _executed(ex / "method.ipynb")
    _executed(ex / "GunPoint" / "datasets.ipynb", profile="smoke")
    _executed(ex / "ECG5000" / "datasets.ipynb")
    box = "```{admonition} Finding\n:class: tip\n- KNN accuracy: **no evidence**\n```"
    _executed(ex / "GunPoint" / "rq1.ipynb", finding=box)
    _executed(ex / "ECG5000" / "rq1.ipynb", failed=True)  # left out: its traceback is not a chapter
    _executed(ex / "GunPoint" / "unknown.ipynb")  # not a chapter of the book

    toc = write_toc(tmp_path).read_text()
    assert toc == toc_text(tmp_path)
    assert "root: book/intro" in toc
    files = [line.split("file: ")[1] for line in toc.splitlines() if "file: " in line]
    assert files == [
        "book/executed/method",
        "book/executed/datasets", "book/executed/ECG5000/datasets", "book/executed/GunPoint/datasets",
        "book/executed/rq1", "book/executed/GunPoint/rq1",
    ]
    assert '- caption: "Research questions"' in toc and "summary" not in toc
    landing = (ex / "datasets.md").read_text()
    assert landing.startswith("# Datasets")
    assert "{doc}`GunPoint <GunPoint/datasets>` | smoke | 0 | 2024-05-01 10:00" in landing
    rq1 = (ex / "rq1.md").read_text()
    assert "ECG5000" not in rq1
    assert "## GunPoint" in rq1 and box in rq1  # each dataset's finding, as its page shows it
    assert "## " not in landing  # a page without a finding box adds no section
    assert "{doc}`Conclusions <conclusions>`" in rq1 and "Conclusions" not in landing  # the grids, for questions


def test_toc_of_a_fresh_checkout_is_the_root_page_alone(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    toc = toc_text(tmp_path)
    assert [line for line in toc.splitlines() if not line.startswith("#")] == ["format: jb-book", "root: book/intro"]


def test_config_builds_offline_from_executed_notebooks_only():
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert "sphinx-mathjax-offline" in cfg["sphinx"]["extra_extensions"]
    assert {"book/*.py", ".venv", "book/_notebooks", "tests"} <= set(cfg["exclude_patterns"])
    assert json.dumps(cfg).count("http") == 0


def test_check_book_finds_missing_files_anchors_and_remote_scripts(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_book", ROOT / "scripts" / "check_book.py")
    check_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_book)

    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "b.html").write_text('<html><head></head><body><h1 id="top">B</h1></body></html>')
    good = ('<a href="b.html#top">b</a><a href="#here" id="here">self</a><img src="img/ok.png">'
            '<a href="https://arxiv.org">x</a>')
    (tmp_path / "a.html").write_text(f"<html><head></head><body>{good}</body></html>")
    pages = sorted(tmp_path.glob("*.html"))
    assert check_book.static_checks(tmp_path, pages)[0] == []

    bad = ('<a href="missing.html">m</a><a href="b.html#nowhere">n</a><img src="img/gone.png">'
           '<script src="https://cdn.jsdelivr.net/x.js"></script><script>const U = "https://unpkg.com/y";</script>')
    (tmp_path / "a.html").write_text(f"<html><head></head><body>{good}{bad}</body></html>")
    problems, stats = check_book.static_checks(tmp_path, pages)
    assert len(problems) == 5, problems
    for needle in ("missing page missing.html", "missing anchor b.html#nowhere", "missing file img/gone.png",
                   "remote URL https://cdn.jsdelivr.net/x.js", "inline script names a remote URL"):
        assert any(needle in p for p in problems), needle
    assert stats["external_links"] == 1


def test_only_cpu_runs_into_the_repository_results_update_the_book(tmp_path):
    """Executed copies are kept per profile; a smoke run or a scratch --results-dir never replaces a chapter."""
    from tsvq.book import BOOK_PROFILE, EXECUTED, executed_root, is_book_run

    assert BOOK_PROFILE == "cpu"
    for results in ("results", "./results", ROOT / "results"):
        assert is_book_run("cpu", results, ROOT)
        assert executed_root("cpu", results, ROOT) == ROOT / EXECUTED
    assert not is_book_run("smoke", "results", ROOT)
    assert executed_root("smoke", "results", ROOT) == (ROOT / "results" / "executed" / "smoke").resolve()
    for profile in ("smoke", "cpu", "paper"):
        assert not is_book_run(profile, tmp_path, ROOT)
        assert executed_root(profile, tmp_path, ROOT) == tmp_path.resolve() / "executed" / profile


def test_runner_puts_a_scratch_run_beside_its_results(tmp_path):
    """run_book without out_root: <results_dir>/executed/<profile>/<dataset>/<chapter>.ipynb."""
    toc = (ROOT / "_toc.yml").read_bytes()
    executed = {p: p.read_bytes() for p in (ROOT / "book" / "executed").rglob("*") if p.is_file()}
    (r,) = run_book(dataset="GunPoint", profile="smoke", notebooks=["datasets"], results_dir=tmp_path,
                    progress=False)
    assert r.ok and r.output == tmp_path.resolve() / "executed" / "smoke" / "GunPoint" / "datasets.ipynb"
    assert (ROOT / "_toc.yml").read_bytes() == toc
    assert {p: p.read_bytes() for p in (ROOT / "book" / "executed").rglob("*") if p.is_file()} == executed


def test_table_drops_the_index_and_empty_columns_and_rounds_to_three_digits():
    import pandas as pd

    from tsvq import report
    from tsvq.book import sig, table

    assert [sig(x) for x in (1316.4, 0.021456, 2.4e-14, 0.5, -3.14159)] == ["1320", "0.0215", "2.40e-14", "0.500",
                                                                           "-3.14"]
    runs = pd.DataFrame({"dataset": "GunPoint", "setting": ["naive", "naive", "ssl", "ssl"], "seed": [0, 1, 0, 1],
                         "acc": [0.81234, 0.8, 0.9, 0.91234], "note": ""})
    html = table(report.summarize(runs, ["acc"], cells_only=True)).data
    assert "<th>setting</th><th>acc</th></tr>" in html  # the index is a column, not a pandas index
    assert "0.806 ± 0.0087" in html and "(n=2)" not in html and "over n = 2 seeds" in html
    tests = table(report.tests_table(report.compare_family(runs, {"acc": True}))).data
    assert "<th>dataset</th>" not in tests and "baseline mean" in tests and "Holm p" in tests
    assert "<th>note</th>" not in table(runs).data  # always empty


def test_captions_count_the_seeds_the_rows_hold_not_the_seeds_asked_for():
    import pandas as pd

    from tsvq.book import seeds_present

    asked = [0, 1, 2]
    full = pd.DataFrame({"setting": ["naive", "ssl"] * 3, "seed": [0, 0, 1, 1, 2, 2]})
    assert seeds_present(full, asked) == "3 seeds (0, 1, 2)"
    assert seeds_present(full, [0, 2]) == "2 seeds (0, 2)"  # rows of other seeds are not counted
    assert seeds_present(full[full["seed"] == 0], asked) == "1 seed (0)"  # a grid run for seed 0 only
    assert seeds_present(full.iloc[:3], asked) == "1–2 seeds (0, 1)"  # ssl lacks seed 1
    assert seeds_present(full.iloc[:0], asked) == "none of 3 seeds (0, 1, 2) yet"


def test_runner_points_figure_citations_at_the_datasets_copy():
    from tsvq.runner import _with_dataset_labels

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "{numref}`fig-probes` and {numref}`Figure %s <fig-pca>`, not `fig-x`")])
    _with_dataset_labels(nb, "ECG5000")
    assert nb.cells[0].source == "{numref}`fig-ecg5000-probes` and {numref}`Figure %s <fig-ecg5000-pca>`, not `fig-x`"


def test_check_book_fails_on_uncaptioned_and_uncited_figures(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_book", ROOT / "scripts" / "check_book.py")
    check_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_book)
    (tmp_path / "f.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    page = tmp_path / "a.html"
    logo = '<img src="f.png">'  # outside the content: not a figure of the chapter
    cited = ('<p><a href="#fig-a">Fig. 1</a></p><figure id="fig-a"><img src="f.png"><figcaption>'
             '<a class="headerlink" href="#fig-a">#</a>what, n, seeds</figcaption></figure>')
    page.write_text(f"<html><body>{logo}<article>{cited}</article></body></html>")
    assert check_book.static_checks(tmp_path, [page])[0] == []
    uncited = '<figure id="fig-b"><img src="f.png"><figcaption>caption</figcaption></figure>'
    bare = '<div class="cell_output"><img src="f.png"></div>'
    page.write_text(f"<html><body><article>{cited}{uncited}{bare}</article></body></html>")
    problems = check_book.static_checks(tmp_path, [page])[0]
    assert len(problems) == 2, problems
    assert any("#fig-b is never cited" in p for p in problems)
    assert any("without a caption (f.png)" in p for p in problems)


def test_sample_quality_chapter_runs_on_prior_rows_without_anchors(tmp_path):
    """A dataset whose prior units finished before its anchors unit: the chapter says the anchors are missing
    and shows the priors, rather than failing."""
    src = ROOT / "results" / "FordA" / "cpu"
    dst = tmp_path / "FordA" / "cpu"
    dst.mkdir(parents=True)
    for name in ("stage1.csv", "selection.csv", "stage2.csv", "prior_curves.csv", "samples.csv"):
        (dst / name).write_bytes((src / name).read_bytes())
    (r,) = run_book(dataset="FordA", profile="cpu", seeds=(0, 1, 2), notebooks=["rq4"], results_dir=tmp_path,
                    progress=False, grid=False)
    assert r.ok, r.error
    text = json.dumps(nbformat.read(r.output, as_version=4).cells)
    assert "No anchors yet" in text and "vibcreg-slice + token prior" in text
