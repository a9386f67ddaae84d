"""One rule for the search's phase tolerance and step damping (issue 14), on validation splits.

The previous default keyed two constants of the search to a (loss, depth)
profile: ``slow_tol`` (a phase ends after 3 iterations that lower the searched
objective by at most this, relative: 0.02 for a classifier with one hidden
layer, 0.003 otherwise) and ``step_damping`` (a proximal term on each hidden
layer's step in its inputs' scale: 1 for a classifier with one hidden layer,
0 otherwise).  The default now uses one value of each for every problem
(``search_tol=0.02``, the estimators' parameter, and damping 1).  This
benchmark scores it against the profile and other rules that are the same
for every problem, on validation splits of the training rows of every
dataset (as ``bench_growth.py``: 75/25, seed 0, at most ``--rows`` rows,
scaled on the 75 %), with 1 to 3 hidden layers of 100 units (``--depths``),
beside ``MLPClassifier`` / ``MLPRegressor`` with ``early_stopping=True``.  A
"tol rule only" candidate switches the search's own stopping off
(``search_tol=None``: neither a slow phase nor a stall ends a phase or the
fit): a phase ends by the estimator's own ``tol`` / ``n_iter_no_change`` rule
(MLP's), the first one (under early stopping, for a classifier) switching the
hidden targets to the squared ones.
"""

import warnings

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, validation_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions

#: label -> (slow_tol, step_damping); None: the default as it runs; "profile": the
#: previous (loss, depth) tables, kept here to measure against.
CANDIDATES = {
    "default: search_tol 0.02, damping 1": None,
    "profile (previous default)": "profile",
    "tol rule only, damping 1": (None, 1.0),
    "tol rule only, damping 0": (None, 0.0),
    "search_tol 0.003, damping 0": (3e-3, 0.0),
}


def profile(depth, regression):
    """The previous default: 0.02 and 1 for a classifier with one hidden layer, else 0.003, 0."""
    return (2e-2, 1.0) if depth == 1 and not regression else (3e-3, 0.0)


def forcing(rule, depth, regression):
    if rule is None:
        return None
    if rule == "profile":
        rule = profile(depth, regression)

    def options(**kwargs):
        forced = {"slow_tol": rule[0], "step_damping": rule[1]}
        return SolverOptions(**{**kwargs, **forced})

    return options


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2,3")
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
                score, t, it = fit(m, Xa, ya, Xv, yv, forcing(rule, depth, reg))
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
