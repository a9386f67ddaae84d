"""The phases of a deep fit's layer-wise stages: both (the previous default) or one.

With early stopping a classifier's fit has two phases: hidden-layer targets
from the hinge output update, then, once the search's rule or early
stopping's patience has ended the first, from the squared output update,
with the full patience again (``search_targets="then-squared"``).  With both
in every layer-wise stage of a deep fit (``skadmm._solver._grown``), a stage
that the held-out rows reject costs two patiences, about
``2 (n_iter_no_change + 1)`` iterations, before it ends: in 45 of the 135
deep fits of ``results/accuracy.md`` (session 13, before this choice) every
layer-wise stage was rejected.  This benchmark measures layer-wise stages of
both phases (the previous default) against one, ``search_targets="squared"``
(the default now, ``SolverOptions.layerwise_targets``) or ``"loss"`` (the
hinge), in those stages only (the first layer's stage keeps both), by
wrapping the stages' fits.

Run on validation splits of the training rows (``bench_growth.validation_split``:
75/25, stratified, at most 10,000 rows, split seeds ``--seeds``), 100 units
per layer, 2 and 3 hidden layers, every classification dataset; nothing here
reads a test set.  Scores are validation accuracy; times are fit seconds,
side by side in one run; changes are against both phases.
"""

from dataclasses import replace

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, split_setting, validation_cells

import skadmm._solver._grown as grown
from skadmm import ADMMClassifier

VARIANTS = {
    "both phases (previous default)": "then-squared",
    "squared only (default)": "squared",
    "hinge only": "loss",
}
_fit_network = grown.fit_network


def stages_with(targets):
    """``fit_network`` whose layer-wise stages use ``targets``."""

    def fit_network(*args, **kwargs):
        if kwargs["stage"].lower is not None:
            kwargs["options"] = replace(kwargs["options"], search_targets=targets)
        return _fit_network(*args, **kwargs)

    return fit_network


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "2,3", seeds=True)
    rows, cells = [], []
    for name, seed, depth, (Xa, Xv, ya, yv, _) in validation_cells(
        names, rows_cap, seeds, depths, classification=True
    ):
        out = []
        for targets in VARIANTS.values():
            grown.fit_network = stages_with(targets)
            try:
                model = ADMMClassifier((100,) * depth, random_state=0)
                out.append(fit(model, Xa, ya, Xv, yv))
            finally:
                grown.fit_network = _fit_network
        cells.append((depth, out))
        row = [name, seed, depth, *[f"{o[0]:.4f}" for o in out]]
        row += [f"{o[0] - out[0][0]:+.4f}" for o in out[1:]]
        row += [f"{o[1]:.1f}" for o in out] + [o[2] for o in out]
        print(*row, flush=True)
        rows.append(row)
    labels = list(VARIANTS)
    summary = []
    for depth in [None, *depths]:
        sel = [c[1] for c in cells if depth is None or c[0] == depth]
        for k, label in enumerate(labels[1:], 1):
            d = np.array([o[k][0] - o[0][0] for o in sel])
            ratio = sum(o[k][1] for o in sel) / sum(o[0][1] for o in sel)
            iters = np.mean([o[k][2] for o in sel]) / np.mean([o[0][2] for o in sel])
            summary.append(
                [
                    f"{label}, {'all depths' if depth is None else f'{depth} layers'}",
                    len(d),
                    f"{d.mean():+.4f}",
                    f"{d.min():+.4f}",
                    f"{d.max():+.4f}",
                    f"{int((d > 0.005).sum())} / {int((d < -0.005).sum())}",
                    f"{ratio:.2f}",
                    f"{iters:.2f}",
                ]
            )
    headers = ["dataset", "split seed", "hidden layers", *labels]
    headers += [f"change {v}" for v in labels[1:]]
    headers += [f"{v} s" for v in labels] + [f"{v} iterations" for v in labels]
    sections = [
        (
            None,
            split_setting(rows_cap, seeds, depths) + "scores are "
            "validation accuracy; times are fit seconds in the same run; changes are "
            "against both phases (the previous default).",
        ),
        ("Validation scores", table(headers, rows)),
        (
            "Against both phases",
            table(
                [
                    "layer-wise stages",
                    "cells",
                    "mean change",
                    "worst",
                    "best",
                    "better / worse by > 0.5 point",
                    "time ratio (all fits' seconds)",
                    "iterations ratio (means)",
                ],
                summary,
            ),
        ),
    ]
    report("stage_phases", "The phases of the layer-wise stages, on validation splits", sections)


if __name__ == "__main__":
    main()
