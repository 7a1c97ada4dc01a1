"""Re-create the result files of the investigations beyond the book's grids (resumable: rows already in a
file are not run again).

- ECG5000 SSL search on validation data: ``results/ECG5000/cpu/selection.csv`` (cross-validated probes on
  TRAIN ∪ VAL, VAL reconstruction; never TEST), seeds 0-2, trained with 1 thread. The search ran when the
  ``cpu`` profile trained for 50 epochs, so its settings name their epochs (``stage1_epochs50``).
- ECG5000 stage-1 grid, seeds 0-4, and the quantised/unquantised probes of the same models:
  ``stage1.csv``, ``feature_probes.csv``.
- ECG5000 stage-1 training of the ``cpu`` profile's networks for 50, 200, 500 (the profile's own) and the
  thesis' 1000 epochs, 1 thread: ``stage1_longer_training.csv``, a side table kept out of the grid (200
  epochs: naive and VIbCReg-slice w0.1, seeds 0-2; otherwise naive and VIbCReg-slice, seeds 0-4). The 500-
  and 1000-epoch settings, and the thesis' network at 50 epochs (seed 0), are also scored on validation
  data in ``selection.csv``.

- The stage-1 step budget of the large datasets (``--budget DATASET STEPS...``): the naive and VIbCReg-slice
  tokenizers trained for each number of steps (``stage1_max_steps``) and scored on validation data only,
  seed 0, 1 thread, in the dataset's ``selection.csv``. Run: ``--budget ElectricDevices 500 1000 2000`` and
  ``--budget FordA 500 1000``.

CPU results are bit-identical for one seed only at one thread count, hence the explicit counts; every row
records the count it was trained with (``torch_threads``), where the file has that column.

    .venv/bin/python scripts/investigations.py [--data-dir ../shared/datasets/UCR] [--budget DATASET STEPS...]
"""
from __future__ import annotations

import argparse

import torch

from tsvq.data import load_ucr
from tsvq.experiments import STAGE1_SETTINGS, run_feature_probes, run_selection_grid, run_stage1_grid

E50 = {"stage1_epochs": 50}  # the cpu profile's stage-1 epochs when the search ran
SEARCH = [("none", "none", E50), ("vibcreg", "slice", E50)] + [
    ("vibcreg", "slice", {"weight": w, **E50}) for w in (0.1, 0.3, 1.0)] + [
    ("vibcreg", "slice", {"weight": 0.1, "proj_dim": 1024, **E50}), ("vibcreg", "warp", {"weight": 0.1, **E50}),
    ("vibcreg", "gauss", {"weight": 0.1, **E50}), ("barlowtwins", "slice", {"weight": 0.1, **E50}),
    ("barlowtwins", "slice", E50),
    ("none", "none", {"stage1_epochs": 200}), ("vibcreg", "slice", {"weight": 0.1, "stage1_epochs": 200}),
    ("vibcreg", "slice", {"weight": 3.0, **E50}), ("vibcreg", "slice", {"weight": 1.0, "proj_dim": 1024, **E50}),
    ("vibcreg", "slice", {"weight": 1.0, "stage1_epochs": 200}), ("vibcreg", "gauss", {"weight": 1.0, **E50}),
    ("vibcreg", "warp", {"weight": 1.0, **E50}), ("barlowtwins", "slice", {"weight": 0.3, **E50}),
    ("vicreg", "slice", E50), ("vicreg", "slice", {"weight": 0.1, **E50})]
# The thesis trained for 1000 epochs: the cpu networks at 50, 200, 500 and 1000 epochs
LONGER = [("none", "none", {"stage1_epochs": 200}), ("vibcreg", "slice", {"weight": 0.1, "stage1_epochs": 200})] + [
    (ssl, aug, {"stage1_epochs": e}) for e in (50, 500, 1000) for ssl, aug in (("none", "none"), ("vibcreg", "slice"))]
# and the thesis' network (the paper profile's) at 50 epochs, one seed
WIDER = [("none", "none", {"tokenizer_hidden_dim": 64, "tokenizer_n_res_blocks": 4, **E50})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--budget", nargs="+", metavar="DATASET STEPS", default=None,
                    help="only the stage-1 step-budget search of one dataset, at these step counts")
    a = ap.parse_args()
    if a.budget:
        torch.set_num_threads(1)
        name, steps = a.budget[0], [int(s) for s in a.budget[1:]]
        budget = [(ssl, aug, {"stage1_max_steps": n}) for n in steps for ssl, aug in (("none", "none"), ("vibcreg", "slice"))]
        run_selection_grid(load_ucr(name, a.data_dir), profile="cpu", seeds=[0], settings=budget)
        return
    ecg = load_ucr("ECG5000", a.data_dir)
    default_threads = torch.get_num_threads()

    torch.set_num_threads(1)
    run_selection_grid(ecg, profile="cpu", seeds=[0, 1, 2], settings=SEARCH + LONGER[4:])
    run_selection_grid(ecg, profile="cpu", seeds=[0], settings=WIDER)
    torch.set_num_threads(default_threads)
    run_stage1_grid(ecg, profile="cpu", seeds=[0, 1, 2, 3, 4], settings=STAGE1_SETTINGS)
    run_feature_probes(ecg, profile="cpu", seeds=[0, 1, 2, 3, 4], settings=STAGE1_SETTINGS)

    torch.set_num_threads(1)

    side = "stage1_longer_training.csv"
    run_stage1_grid(ecg, profile="cpu", seeds=[0, 1, 2], settings=LONGER[:2], table=side)
    run_stage1_grid(ecg, profile="cpu", seeds=[0, 1, 2, 3, 4], settings=LONGER[2:], table=side)
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
