"""The full-network stage of a deep fit when every layer above the first is an identity.

A deep default fit (``skadmm._solver._grown``) ends with the full network,
started from the deepest stack that the held-out rows accepted, missing
layers inserted as identities.  When they reject the first layer-wise stage,
every layer above the first starts as an identity: a stationary point of the
search up to the units at a ReLU kink, from which the full stage typically
spends ``n_iter_no_change + 1`` iterations, its dearest, before its patience
ends (or fewer, when the search's own rule ends it first).  This benchmark
measures the default against ``SolverOptions(full_from_identities=False)``,
which returns that grown start (its output layer fitted) instead, on
validation splits of the training rows (``bench_growth.validation_split``:
75/25, stratified, at most 10,000 rows, split seeds ``--seeds``), 100 units
per layer, 2 and 3 hidden layers, every classification dataset (the
regressors below 10,000 rows hold out no split, so no layer-wise stage
runs).  A cell where the iterations are the same is
one where the first layer-wise stage was kept: the two fits are the same.
Times are fit seconds, side by side in one run.
"""

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, validation_split

from skadmm import ADMMClassifier
from skadmm._solver import SolverOptions
from skadmm.datasets import DATASETS


def skip(**kwargs):
    return SolverOptions(**{**kwargs, "full_from_identities": False})


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "2,3", seeds=True)
    names = [n for n in names if DATASETS[n][1] != "regression"]
    rows, diffs, times, skipped = [], [], [], []
    for name in names:
        for seed in seeds:
            Xa, Xv, ya, yv, _ = validation_split(name, rows_cap, seed)
            for depth in depths:
                hidden = (100,) * depth
                base = fit(ADMMClassifier(hidden, random_state=0), Xa, ya, Xv, yv)
                other = fit(ADMMClassifier(hidden, random_state=0), Xa, ya, Xv, yv, skip)
                applied = other[2] != base[2]
                diffs.append(other[0] - base[0])
                times.append((base[1], other[1]))
                if applied:
                    skipped.append(other[1] / base[1])
                row = [name, seed, depth, f"{base[0]:.4f}", f"{other[0]:.4f}"]
                row += [f"{other[0] - base[0]:+.4f}", f"{base[1]:.1f}", f"{other[1]:.1f}"]
                row += [f"{other[1] / base[1]:.2f}", base[2], other[2]]
                row += ["yes" if applied else ""]
                print(*row, flush=True)
                rows.append(row)
    d = np.array(diffs)
    total = sum(t[1] for t in times) / sum(t[0] for t in times)
    geo = float(np.exp(np.mean(np.log(skipped)))) if skipped else float("nan")
    summary = [
        [
            len(d),
            len(skipped),
            f"{d.mean():+.4f}",
            f"{d.min():+.4f}",
            f"{d.max():+.4f}",
            f"{int((d > 0.005).sum())} / {int((d < -0.005).sum())}",
            f"{total:.2f}",
            f"{geo:.2f}",
        ]
    ]
    headers = ["dataset", "split seed", "hidden layers", "default", "no full stage"]
    headers += ["change", "default s", "no full stage s", "time ratio"]
    headers += ["default iterations", "no full stage iterations", "stage skipped"]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25; at most {rows_cap} rows; split "
            f"seeds {seeds}), 100 units per hidden layer, depths {depths}; scores are "
            "validation accuracy; times are fit seconds in the same run.",
        ),
        ("Validation scores", table(headers, rows)),
        (
            "No full stage from identities against the default",
            table(
                [
                    "cells",
                    "stage skipped",
                    "mean change",
                    "worst",
                    "best",
                    "better / worse by > 0.5 point",
                    "time ratio (all fits' seconds)",
                    "time ratio where skipped (geometric mean)",
                ],
                summary,
            ),
        ),
    ]
    report(
        "full_stage",
        "The full-network stage from identities, on validation splits",
        sections,
    )


if __name__ == "__main__":
    main()
