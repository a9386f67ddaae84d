"""One rule for the search's phase tolerance and step damping (issue 14), on validation splits.

The previous default keyed two constants of the search to a (loss, depth)
profile: ``slow_tol`` (a phase ends after 3 iterations that lower the searched
objective by at most this, relative: 0.02 for a classifier with one hidden
layer, 0.003 otherwise) and ``step_damping`` (a proximal term on each hidden
layer's step in its inputs' scale: 1 for a classifier with one hidden layer,
0 otherwise).  This benchmark scores candidate rules that are the same for
every problem against that profile, on validation splits of the training
rows of every dataset (as ``bench_growth.py``: 75/25, seed 0, at most
``--rows`` rows, scaled on the 75 %), with 1 and 2 hidden layers of 100 units
(``--depths``), beside ``MLPClassifier`` / ``MLPRegressor`` with
``early_stopping=True``.  A candidate with ``slow_tol = 0`` has no phase rule:
a phase ends when no candidate step lowers the objective for 3 iterations in
a row, or by the estimator's own ``tol`` / ``n_iter_no_change`` rule.
"""

import warnings

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, validation_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions

CANDIDATES = {
    "profile (previous default)": None,
    "slow_tol 0, damping 0": (0.0, 0.0),
    "slow_tol 0, damping 1": (0.0, 1.0),
    "slow_tol 0.003, damping 0": (3e-3, 0.0),
    "slow_tol 0.02, damping 1": (2e-2, 1.0),
}


def forcing(rule):
    if rule is None:
        return None

    def options(**kwargs):
        return SolverOptions(**{**kwargs, "slow_tol": rule[0], "step_damping": rule[1]})

    return options


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2")
    rows = []
    gaps = {k: [] for k in CANDIDATES}
    ratios = {k: [] for k in CANDIDATES}
    for name in names:
        Xa, Xv, ya, yv, reg = validation_split(name, rows_cap)
        A = ADMMRegressor if reg else ADMMClassifier
        M = MLPRegressor if reg else MLPClassifier
        for depth in depths:
            hidden = (100,) * depth
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mlp = fit(
                    M(hidden_layer_sizes=hidden, early_stopping=True, random_state=0),
                    Xa,
                    ya,
                    Xv,
                    yv,
                )
            row = [name, depth, f"{mlp[0]:.4f}"]
            for label, rule in CANDIDATES.items():
                m = A(hidden_layer_sizes=hidden, random_state=0)
                score, t, it = fit(m, Xa, ya, Xv, yv, forcing(rule))
                print(name, depth, label, round(score, 4), round(t, 2), it, flush=True)
                gaps[label].append(score - mlp[0])
                ratios[label].append(t / mlp[1])
                row.append(f"{score - mlp[0]:+.4f} ({t / mlp[1]:.2f}x, {it})")
            rows.append(row)
    headers = ["dataset", "hidden layers", "MLP", *CANDIDATES]
    summary = [
        [
            label,
            f"{np.mean(gaps[label]):+.4f}",
            f"{np.min(gaps[label]):+.4f}",
            f"{sum(g >= -0.01 for g in gaps[label])} of {len(gaps[label])}",
            f"{np.exp(np.mean(np.log(ratios[label]))):.2f}",
        ]
        for label in CANDIDATES
    ]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; at most {rows_cap} rows), "
            f"100 units per hidden layer, depths {depths}; each cell: validation score minus the "
            "MLP's (accuracy, R^2 for regression), (fit-time ratio to the MLP, iterations).",
        ),
        ("Per dataset", table(headers, rows)),
        (
            "Summary",
            table(
                ["rule", "mean gap", "worst gap", "within 1 point", "geometric-mean time ratio"],
                summary,
            ),
        ),
    ]
    report("search_rule", "One rule for the search's phase tolerance and step damping", sections)


if __name__ == "__main__":
    main()
