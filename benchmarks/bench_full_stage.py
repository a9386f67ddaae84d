"""The full-network stage of a deep fit: always, unless from identities, or only without a split.

A deep default fit (``skadmm._solver._grown``) grows the network: the first
hidden layer alone, then (with a validation split) each further layer on the
fixed layers below, kept only where the held-out rows judge it better, then
the full network, started from the deepest stack kept, missing layers
inserted as identities.  That last stage costs the most per iteration (its
search carries each layer's candidates through every layer above) and
typically runs ``n_iter_no_change + 1`` or more iterations.  When the
held-out rows reject the first layer-wise stage, every layer above the first
starts as an identity: a stationary point of the search up to the units at a
ReLU kink.  This benchmark measures ``SolverOptions.full_stage``'s values
side by side:

- ``"always"``: the full stage runs after the layer-wise stages;
- ``"unless-identities"``: not when the first layer-wise stage was rejected;
- ``"without-split"``: only where no layer-wise stage could be judged (no
  validation split), so a fit with a split returns the layer-wise stack.

Run on validation splits of the training rows (``bench_growth.validation_split``:
75/25, split seeds ``--seeds``), 100 units per layer, 2 and 3 hidden layers:
every classification dataset (stratified, at most ``--rows`` rows, 10,000
unless given); and, in a second table, every regressor whose 75 % of all
its training rows holds more than 10,000 rows, with all of them whatever
``--rows`` or ``--quick`` (California housing and BNG_lowbwt): a regressor
holds out its own early-stopping split only above 10,000 rows, and without
one no layer-wise stage runs and the three are the same fit.  Scores are
validation accuracy (R^2 for the regressors); times are fit seconds, side
by side in one run; changes are against ``"always"``.
"""

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, validation_cells, validation_split

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions
from skadmm._solver._options import FULL_STAGES
from skadmm.datasets import DATASETS


def options(value):
    return lambda **kwargs: SolverOptions(**{**kwargs, "full_stage": value})


def summary_row(label, d, t, base_t, skipped):
    total = t.sum() / base_t.sum()
    ratios = t[skipped] / base_t[skipped]
    geo = float(np.exp(np.mean(np.log(ratios)))) if skipped.any() else float("nan")
    return [
        label,
        len(d),
        int(skipped.sum()),
        f"{d.mean():+.4f}",
        f"{d.min():+.4f}",
        f"{d.max():+.4f}",
        f"{int((d > 0.005).sum())} / {int((d < -0.005).sum())}",
        f"{total:.2f}",
        f"{geo:.2f}",
    ]


def regression_cells(names, seeds, depths):
    """The validation cells of the regressors whose 75 % of all training rows holds
    out an early-stopping split of its own (more than 10,000 rows)."""
    for name in names:
        if DATASETS[name][1] != "regression":
            continue
        for seed in seeds:
            split = validation_split(name, None, seed)
            if split[0].shape[0] <= 10_000:
                break
            for depth in depths:
                yield name, seed, depth, split


def run_cells(cells_iter, estimator):
    """Every cell fitted under each ``full_stage``: the table's rows and the cells
    ``(depth, scores, seconds, iterations)``."""
    rows, cells = [], []
    for name, seed, depth, (Xa, Xv, ya, yv, _) in cells_iter:
        hidden = (100,) * depth
        out = [
            fit(estimator(hidden, random_state=0), Xa, ya, Xv, yv, options(v)) for v in FULL_STAGES
        ]
        cells.append((depth, *zip(*out)))
        row = [name, seed, depth]
        row += [f"{o[0]:.4f}" for o in out]
        row += [f"{o[0] - out[0][0]:+.4f}" for o in out[1:]]
        row += [f"{o[1]:.1f}" for o in out]
        row += [o[2] for o in out]
        print(*row, flush=True)
        rows.append(row)
    return rows, cells


def summarise(cells, depths):
    """Per depth and over all, each value's change against ``"always"``."""
    summary = []
    for depth in [None, *depths]:
        sel = [c for c in cells if depth is None or c[0] == depth]
        if not sel:
            continue
        score = np.array([c[1] for c in sel])
        secs = np.array([c[2] for c in sel])
        iters = np.array([c[3] for c in sel])
        for k, value in enumerate(FULL_STAGES[1:], 1):
            label = f"{value}, {'all depths' if depth is None else f'{depth} layers'}"
            skipped = iters[:, k] != iters[:, 0]
            summary.append(
                summary_row(label, score[:, k] - score[:, 0], secs[:, k], secs[:, 0], skipped)
            )
    return summary


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "2,3", seeds=True)
    rows, cells = run_cells(
        validation_cells(names, rows_cap, seeds, depths, classification=True), ADMMClassifier
    )
    reg_rows, reg_cells = run_cells(regression_cells(names, seeds, depths), ADMMRegressor)
    headers = ["dataset", "split seed", "hidden layers"]
    headers += [f"{v}" for v in FULL_STAGES]
    headers += [f"change {v}" for v in FULL_STAGES[1:]]
    headers += [f"{v} s" for v in FULL_STAGES]
    headers += [f"{v} iterations" for v in FULL_STAGES]
    summary_headers = [
        "full_stage",
        "cells",
        "stage skipped",
        "mean change",
        "worst",
        "best",
        "better / worse by > 0.5 point",
        "time ratio (all fits' seconds)",
        "time ratio where skipped (geometric mean)",
    ]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25; classifiers: at most {rows_cap} "
            f"rows; regressors: all their rows, those whose 75 % holds more than 10,000; "
            f"split seeds {seeds}), 100 units per hidden layer, depths {depths}; scores are "
            "validation accuracy (R^2 for the regressors); times are fit seconds in the same "
            "run; changes are against ``always``.  A cell whose iterations equal "
            "``always``'s is one where the same stages ran (the full stage ran in both, or "
            "``max_iter`` ran out before it): the fits are the same; 'stage skipped' counts "
            "the others.",
        ),
        ("Validation scores (classifiers)", table(headers, rows)),
        ("Classifiers against always", table(summary_headers, summarise(cells, depths))),
    ]
    if reg_rows:  # none where --datasets names no regressor with a split
        sections += [
            ("Validation R^2 (regressors with a split)", table(headers, reg_rows)),
            ("Regressors against always", table(summary_headers, summarise(reg_cells, depths))),
        ]
    report("full_stage", "The full-network stage of a deep fit, on validation splits", sections)


if __name__ == "__main__":
    main()
