"""``tsvq grid``: plan the units of an experiment grid and run them on an executor (see :func:`main`)."""
from __future__ import annotations

import argparse


def add_grid_command(sub) -> None:
    """Register ``tsvq grid`` on the command line's sub-parsers."""
    p = sub.add_parser("grid", help="train and evaluate a grid of runs (local workers, Slurm or in-process)")
    p.set_defaults(func=lambda args: run_from_args(args))


def run_from_args(args: argparse.Namespace) -> int:
    raise NotImplementedError
