"""One rule for the search's own stopping (``search_tol``), on validation splits (issue 14).

The relaxation search ends a phase (and, at the last phase, the fit) after 3
iterations in a row that each lower its objective by at most ``search_tol``
(0.02), relative to a reference (``SolverOptions.slow_reference``):

* with a validation split (the classifiers whenever the rows allow one, any
  estimator above 10,000 rows), the phase's own decrease so far
  (``"progress"``): the held-out rows judge overfitting, and the rule only
  says that the search has converged.  Relative to the objective, a search
  that still lowers it steadily by 1 to 2 % per iteration stops when the
  objective has a large floor (noisy or many-class problems: krkopt,
  nursery);
* without one (the regressors up to 10,000 rows, ``early_stopping=False``),
  the objective before the iteration (``"objective"``): the rule is then the
  fit's only brake on overfitting.

This benchmark is the table that chose it.  Candidates, each the same rule for
every problem: the default; the objective-relative rule everywhere (the
previous default); the progress-relative rule everywhere (also without a
split); ``search_tol=0.05`` (with the default references); no search rule
with a split (``search_tol=None`` there: the held-out patience,
``n_iter_no_change``, alone ends each phase; the default rule without a
split).  Each is scored
beside ``MLPClassifier`` / ``MLPRegressor`` with ``early_stopping=True`` on
validation splits of the training rows of every dataset (as
``bench_growth.py``: 75/25, split seeds ``--seeds`` (0, 1, 2) with the models'
``random_state`` the same seed, at most ``--rows`` rows, scaled on the 75 %),
with 1 to 3 hidden layers of 100 units (``--depths``).  Cells: the mean over
seeds of the validation score minus the MLP's (accuracy, R^2 for regression),
the ratio of summed fit times to the MLP's, and the mean iterations.
"""

import warnings

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, validation_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions

#: label -> SolverOptions overrides (None: the default as it runs)
CANDIDATES = {
    "default: 0.02, progress-relative with a split": None,
    "objective-relative everywhere (previous default)": {"slow_reference": "objective"},
    "progress-relative everywhere": {"slow_reference": "progress"},
    "search_tol 0.05": {"slow_tol": 0.05},
    # with a split (the estimators then pass slow_reference="progress") the held-out
    # patience alone ends each phase; without one the default rule stays the brake
    "no search rule with a split": lambda kw: (
        {"slow_tol": None} if kw["slow_reference"] == "progress" else {}
    ),
}


def forcing(overrides):
    """The SolverOptions factory of a candidate: its overrides (a dict, or a function of
    the estimator's options giving one) on the estimator's options."""
    if overrides is None:
        return None
    if callable(overrides):
        return lambda **kwargs: SolverOptions(**{**kwargs, **overrides(kwargs)})
    return lambda **kwargs: SolverOptions(**{**kwargs, **overrides})


def summary_rows(cells, keep):
    out = []
    for label in CANDIDATES:
        gaps = np.array([c[label][0] for c in cells if keep(c)])
        delta = np.array([c[label][0] - c[next(iter(CANDIDATES))][0] for c in cells if keep(c)])
        ratios = np.array([c[label][1] for c in cells if keep(c)])
        out.append(
            [
                label,
                f"{gaps.mean():+.4f}",
                f"{gaps.min():+.4f}",
                f"{int(np.sum(gaps >= -0.01))} of {gaps.size}",
                f"{delta.mean():+.4f}",
                f"{delta.min():+.4f}",
                f"{np.exp(np.mean(np.log(ratios))):.2f}",
            ]
        )
    return out


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2,3", seeds=True)
    rows, cells = [], []
    for name in names:
        splits = {seed: validation_split(name, rows_cap, seed) for seed in seeds}
        reg = splits[seeds[0]][4]
        A = ADMMRegressor if reg else ADMMClassifier
        M = MLPRegressor if reg else MLPClassifier
        for depth in depths:
            hidden = (100,) * depth
            mlp_score, mlp_time = [], 0.0
            got = {label: ([], 0.0, []) for label in CANDIDATES}
            for seed in seeds:
                Xa, Xv, ya, yv, _ = splits[seed]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = M(hidden_layer_sizes=hidden, early_stopping=True, random_state=seed)
                    score, t, _ = fit(m, Xa, ya, Xv, yv)
                mlp_score.append(score)
                mlp_time += t
                for label, overrides in CANDIDATES.items():
                    model = A(hidden_layer_sizes=hidden, random_state=seed)
                    score, t, it = fit(model, Xa, ya, Xv, yv, forcing(overrides))
                    print(name, depth, seed, label, round(score, 4), round(t, 2), it, flush=True)
                    scores, total, iters = got[label]
                    got[label] = (scores + [score], total + t, iters + [it])
            cell = {"reg": reg}
            row = [name, depth, f"{np.mean(mlp_score):.4f}"]
            for label, (scores, total, iters) in got.items():
                gap = float(np.mean(scores) - np.mean(mlp_score))
                cell[label] = (gap, total / mlp_time)
                row.append(f"{gap:+.4f} ({total / mlp_time:.2f}x, {np.mean(iters):.0f})")
            cells.append(cell)
            rows.append(row)
    headers = ["dataset", "hidden layers", "MLP", *CANDIDATES]
    summary_headers = [
        "rule",
        "mean gap to MLP",
        "worst gap",
        "within 1 point",
        "mean change from the default",
        "worst change",
        "geometric-mean time ratio to MLP",
    ]
    groups = [
        ("Summary: every cell", lambda c: True),
        ("Summary: classification (a validation split)", lambda c: not c["reg"]),
        ("Summary: regression, at most 10,000 rows (no split)", lambda c: c["reg"]),
    ]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seeds {seeds}; at most {rows_cap} "
            f"rows), 100 units per hidden layer, depths {depths}; each cell: the mean over seeds "
            "of the validation score minus the MLP's (accuracy, R^2 for regression), (summed "
            "fit-time ratio to the MLP, mean iterations).",
        ),
        ("Per dataset", table(headers, rows)),
    ]
    for title, keep in groups:
        sections.append((title, table(summary_headers, summary_rows(cells, keep))))
    report("search_rule", "One rule for the search's own stopping", sections)


if __name__ == "__main__":
    main()
