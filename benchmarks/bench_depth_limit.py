"""What the default's deep gaps are made of: layer-wise training, or full batches.

With a validation split the default fits a deep network layer by layer
(the user guide's "Deep networks grow from one hidden layer"): the first
hidden layer as a one-hidden-layer network, then each further layer as the
one hidden layer of a network on the fixed layers below it, kept only if
its held-out rows score it higher.  Where it stays more than a point
behind ``MLPClassifier`` / ``MLPRegressor`` of the same depth on the test
sets (``results/accuracy.md``: krkopt, nursery, California housing), this
script asks two questions on validation splits of the training rows
(``bench_growth.validation_split``: 75/25, stratified for classification,
split seed 0, every training row unless ``--rows`` caps them; 100 units per
hidden layer), by default on those three sets and on MAGIC and optdigits,
where it does not fall behind (``--datasets`` names others).  Every ADMM
fit here is the default estimator with ``early_stopping=True`` (what
``"auto"`` gives these sets with all their rows; set so that a ``--rows``
cap of at most 13,334 rows still fits layer by layer):

1. *How much does a better top stage buy?*  The hidden features of the
   default fitted with one layer fewer, frozen and standardised on the
   75 % (the default's own stage standardises on its training part, 90 %
   of them), and on them one hidden layer of 100 units fitted by the MLP
   of the same kind (``early_stopping=True``, the log-loss for a
   classifier where the default's stage fits squared-loss targets) and by
   the default (a fit of its own, not the stage: two phases, its own
   ``max_iter``).  If backprop on the frozen layers scores little above the
   default, a better top stage would not close the gap; "same as one layer
   fewer" marks the cells whose held-out rows rejected the default's stage
   (its validation score is the one-layer-fewer network's).
2. *Can a full-batch method train every layer together in the MLP's time?*
   The same network fitted end to end by backprop with exact full-batch
   gradients and quasi-Newton curvature (``solver="lbfgs"``, no early
   stopping), one fresh fit per ``max_iter`` cap of 50, 100, 200, 400, the
   ladder stopping at the first cap whose validation score is within a
   point of Adam's (``solver="adam"``, the MLP default,
   ``early_stopping=True``): chosen on the rows it is scored on, which
   favours L-BFGS.  The time of that cap is an upper bound on the time
   L-BFGS needs, the time of the cap before it (which missed) a lower one.
   An iteration of the default's search, like an L-BFGS iteration, makes
   at most one update of each layer per pass over the rows.  Beside them,
   the default's own iteration on every layer at once, given time
   (``LONGER``): the full-network stage after the layer-wise ones
   (``SolverOptions.full_stage="always"``, which the default runs only
   without a validation split), the search's own rule ending a phase only
   on a stall (``search_tol=0``: three iterations in a row that lower its
   objective by nothing), 50 iterations of early-stopping patience, both in
   every stage, at most 400 iterations in all, which its stages share:
   where they run out, the full network gets few of them or none ("its
   iterations" = 400).

Scores are validation accuracy (R^2 for regression), "train" the score on
the 75 %; seconds are fit times in this one run (run it alone).  Nothing
here reads a test set or chooses a default.
"""

import sys

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, validation_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions

#: The default's own iteration on every layer at once, given time: the full-network
#: stage after the layer-wise ones (``full_stage="always"``), the search's own rule
#: ending a phase only on a stall (``search_tol=0``), 50 iterations of early-stopping
#: patience, at most 400 iterations shared by the stages.
LONGER = dict(early_stopping=True, search_tol=0.0, n_iter_no_change=50, max_iter=400)


def full_stage_always(**kwargs):
    return SolverOptions(**{**kwargs, "full_stage": "always"})


DEFAULT_SETS = ("krkopt", "nursery", "california_housing", "magic", "optdigits")
BUDGETS = (50, 100, 200, 400)


def fitted(model, Xa, ya, Xv, yv, options=None):
    """``(train score, validation score, seconds)`` of ``model`` fitted on ``(Xa, ya)``
    (``bench_growth.fit``: ``options`` in place of the estimators' ``SolverOptions``)."""
    validation, seconds, _ = fit(model, Xa, ya, Xv, yv, options)
    return model.score(Xa, ya), validation, seconds


def hidden_features(model, X):
    """The last hidden layer's activations of a fitted ReLU network."""
    assert model.activation == "relu"
    for W, c in zip(model.coefs_[:-1], model.intercepts_[:-1]):
        X = np.maximum(X @ W + c, 0.0)
    return X


def cell(name, depth, Xa, ya, Xv, yv, reg):
    """One (dataset, depth) cell: the scores and seconds of every fit, by label."""
    MLP = MLPRegressor if reg else MLPClassifier
    ADMM = ADMMRegressor if reg else ADMMClassifier
    hidden = (100,) * depth
    out = {
        "default": fitted(ADMM(hidden, early_stopping=True, random_state=0), Xa, ya, Xv, yv),
        "MLP adam": fitted(
            MLP(hidden_layer_sizes=hidden, early_stopping=True, random_state=0), Xa, ya, Xv, yv
        ),
    }
    below = ADMM((100,) * (depth - 1), early_stopping=True, random_state=0)
    out["default, one layer fewer"] = fitted(below, Xa, ya, Xv, yv)
    sc = StandardScaler().fit(hidden_features(below, Xa))
    Fa, Fv = sc.transform(hidden_features(below, Xa)), sc.transform(hidden_features(below, Xv))
    frozen = MLP(hidden_layer_sizes=(100,), early_stopping=True, random_state=0)
    out["MLP on the frozen layers"] = fitted(frozen, Fa, ya, Fv, yv)
    on_frozen = ADMM((100,), early_stopping=True, random_state=0)
    out["default on the frozen layers"] = fitted(on_frozen, Fa, ya, Fv, yv)
    longer = ADMM(hidden, random_state=0, **LONGER)
    out["default longer, then every layer at once"] = fitted(
        longer, Xa, ya, Xv, yv, full_stage_always
    )
    out["longer iterations"] = longer.n_iter_
    target = out["MLP adam"][1] - 0.01
    out["lbfgs"] = []
    for budget in BUDGETS:
        lbfgs = MLP(hidden_layer_sizes=hidden, solver="lbfgs", max_iter=budget, random_state=0)
        out["lbfgs"].append((budget,) + fitted(lbfgs, Xa, ya, Xv, yv))
        print(name, depth, "lbfgs", out["lbfgs"][-1], flush=True)
        if out["lbfgs"][-1][2] >= target:
            break
    return out


LAYERWISE = (
    "default",
    "default, one layer fewer",
    "MLP on the frozen layers",
    "default on the frozen layers",
    "MLP adam",
)


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "2,3,4", rows=None)
    if not any(a.startswith("--datasets") for a in sys.argv[1:]):
        names = list(DEFAULT_SETS)  # where the default misses, and two where it does not
    first, second, lbfgs_rows = [], [], []
    for name in names:
        Xa, Xv, ya, yv, reg = validation_split(name, rows_cap)
        for depth in depths:
            out = cell(name, depth, Xa, ya, Xv, yv, reg)
            row = [name, depth]
            for k in LAYERWISE:
                row += [f"{out[k][0]:.4f}", f"{out[k][1]:.4f}"]
            gap = out["default"][1] - out["MLP adam"][1]
            frozen = out["MLP on the frozen layers"][1]
            same = out["default"][1] == out["default, one layer fewer"][1]
            row += [f"{gap:+.4f}", f"{frozen - out['default'][1]:+.4f}"]
            row += [f"{frozen - out['default on the frozen layers'][1]:+.4f}"]
            row += ["yes" if same else "no"]
            print(*row, flush=True)
            first.append(row)
            adam_s, adam_v = out["MLP adam"][2], out["MLP adam"][1]
            reached = [b for b in out["lbfgs"] if b[2] >= adam_v - 0.01]
            missed = [b for b in out["lbfgs"] if b[2] < adam_v - 0.01]
            second.append(
                [name, depth, f"{adam_v:.4f}", f"{adam_s:.1f}"]
                + [f"{out['default'][1]:.4f}", f"{out['default'][2] / adam_s:.2f}"]
                + [f"{out['lbfgs'][-1][2]:.4f}", out["lbfgs"][-1][0]]
                + (
                    [reached[0][0], f"{reached[0][3] / adam_s:.2f}"]
                    if reached
                    else [f"not within {BUDGETS[-1]}", ""]
                )
                + ([f"{missed[-1][3] / adam_s:.2f}"] if missed else ["(first cap)"])
                + [f"{out['default longer, then every layer at once'][1]:.4f}"]
                + [f"{out['default longer, then every layer at once'][2] / adam_s:.2f}"]
                + [out["longer iterations"]]
            )
            for budget, tr, va, s in out["lbfgs"]:
                lbfgs_rows.append(
                    [name, depth, budget, f"{tr:.4f}", f"{va:.4f}", f"{va - adam_v:+.4f}"]
                    + [f"{s:.1f}", f"{s / adam_s:.2f}"]
                )
    headers = ["dataset", "hidden layers"]
    for k in LAYERWISE:
        headers += [f"{k} train", f"{k} validation"]
    headers += ["default - MLP adam", "MLP on the frozen layers - default"]
    headers += ["MLP on the frozen layers - default on the frozen layers"]
    headers += ["same as one layer fewer"]
    sections = [
        (
            None,
            "validation splits of the training rows (75/25, stratified for classification, "
            "split seed 0; "
            f"{'all rows' if rows_cap is None else f'at most {rows_cap} rows'}), 100 units "
            f"per hidden layer, depths {depths}; scores are accuracy (R^2 for regression), "
            "'train' on the 75 %, 'validation' on the 25 %; every ADMM fit is the default "
            "with early_stopping=True; the frozen layers are the hidden layers of 'default, "
            "one layer fewer', standardised, with one hidden layer of 100 units fitted on "
            "them; 'same as one layer fewer': the default's validation score is that "
            "network's (its held-out rows rejected the last stage); MLP adam has "
            "early_stopping=True, L-BFGS none, one fresh fit per max_iter cap (an upper "
            "bound on its iterations), the ladder stopping at the first cap within a point "
            "of adam on these validation rows; 'default longer, then every layer at once': "
            "the default with full_stage='always', search_tol=0, n_iter_no_change=50, "
            "max_iter=400 (shared by its stages); seconds are fit times in this one run.",
        ),
        (
            "1. A better top stage: backprop on the frozen lower layers",
            table(headers, first),
        ),
        (
            "2. Every layer at once with full batches: L-BFGS against Adam",
            table(
                [
                    "dataset",
                    "hidden layers",
                    "MLP adam validation",
                    "MLP adam s",
                    "default validation",
                    "default s / adam s",
                    "lbfgs validation, last budget",
                    "last budget",
                    "lbfgs budget within a point of adam",
                    "its s / adam s",
                    "s / adam s of the cap before (missed)",
                    "default longer, then every layer at once: validation",
                    "its s / adam s",
                    "its iterations",
                ],
                second,
            ),
        ),
        (
            "Every L-BFGS fit",
            table(
                [
                    "dataset",
                    "hidden layers",
                    "max_iter",
                    "train",
                    "validation",
                    "- adam",
                    "s",
                    "s / adam s",
                ],
                lbfgs_rows,
            ),
        ),
    ]
    report("depth_limit", "Deep gaps: the layer-wise scheme, or full batches", sections)


if __name__ == "__main__":
    main()
