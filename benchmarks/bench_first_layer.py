"""The first hidden layer: what a strong optimiser reaches, and what the stages build on it.

A diagnostic for issue 14's deep gaps (krkopt, nursery); it chooses nothing
and never reads a test set.  On validation splits of the training rows of
every classification dataset (``bench_growth.validation_split``: 75/25,
stratified; all the training rows unless ``--rows`` caps them, ``--quick``:
3,000; split seeds ``--seeds``, default 0, 1, 2, each also the models'
``random_state``), 100 units per
hidden layer:

1. *One hidden layer, four fits.*  The default ``ADMMClassifier``;
   ``MLPClassifier`` with Adam and ``early_stopping=True`` (issue 14's
   yardstick); full-batch L-BFGS on the log-loss (``MLPClassifier(solver=
   "lbfgs", max_iter=200)``) and on the squared loss of the 0/1 class
   indicators the default trains its hidden layers on
   (``bench_loss_or_solver.SquaredLossMLP`` with the same L-BFGS settings).
   Every fit has ``alpha=1e-4``.  L-BFGS has no early stopping: it runs
   200 iterations, or fewer where its gradient test (``tol=1e-4``) stops
   it.  Training and validation accuracy, seconds.
2. *Layer-wise stages on a fixed first layer.*  The hidden layer of one of
   those one-layer fits is frozen, its features (ReLU) are standardised on
   the training rows, and the default ``ADMMClassifier`` with one hidden
   layer is trained on them; its layer is frozen in turn and a third is
   trained the same way.  First layers: the default's own, and L-BFGS's on
   the log-loss.  Beside them, the default and the Adam MLP with 2 and 3
   hidden layers.  The default's own growth (``skadmm._growth``) differs:
   its layer-wise stages fit the squared targets from their first
   iteration (no hinge phase), fit no log-loss output layer of their own,
   share ``max_iter``, and held-out rows may reject a stage.

``--depths`` is not used (always 1 to 3 layers); ``--quick`` runs split seed
0 only.
"""

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, validation_cells
from bench_loss_or_solver import SquaredLossMLP, accuracies
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier

ONE_LAYER = ("default", "MLP adam", "L-BFGS log-loss", "L-BFGS squared")
LBFGS_ITER = 200


def fitted(model, Xa, ya, Xv, yv):
    """``model`` fitted on ``(Xa, ya)``: (itself, training accuracy, validation accuracy, s)."""
    return (model, *accuracies(model, Xa, ya, Xv, yv))


def one_layer_models(seed):
    return {
        "default": ADMMClassifier((100,), random_state=seed),
        "MLP adam": MLPClassifier((100,), early_stopping=True, random_state=seed),
        "L-BFGS log-loss": MLPClassifier(
            (100,), solver="lbfgs", max_iter=LBFGS_ITER, random_state=seed
        ),
        "L-BFGS squared": SquaredLossMLP((100,), seed, solver="lbfgs", max_iter=LBFGS_ITER),
    }


def first_layer(model):
    """``(W, c)`` of a fitted one-hidden-layer model's hidden layer."""
    mlp = getattr(model, "mlp", model)
    return mlp.coefs_[0], mlp.intercepts_[0]


def stages(layer, Xa, ya, Xv, yv, seed, n_stages=2):
    """Validation accuracy after each layer-wise stage on the fixed ``layer``: the default's
    one-hidden-layer fit on the standardised ReLU features of the layers below."""
    Fa, Fv, out = Xa, Xv, []
    for _ in range(n_stages):
        W, c = layer
        Ha, Hv = np.maximum(Fa @ W + c, 0.0), np.maximum(Fv @ W + c, 0.0)
        scale = StandardScaler().fit(Ha)
        Fa, Fv = scale.transform(Ha), scale.transform(Hv)
        model, _, val, _ = fitted(ADMMClassifier((100,), random_state=seed), Fa, ya, Fv, yv)
        out.append(val)
        layer = first_layer(model)
    return out


def main():
    rows_cap, _, names, seeds = grid_arguments(__doc__, "1", seeds=True, rows=None)
    one_rows, stage_rows, deltas = [], [], []
    for name, seed, _, (Xa, Xv, ya, yv, _) in validation_cells(
        names, rows_cap, seeds, [1], classification=True
    ):
        fits = {k: fitted(m, Xa, ya, Xv, yv) for k, m in one_layer_models(seed).items()}
        row = [name, seed, len(ya), len(np.unique(ya))]
        for k in ONE_LAYER:
            row += [f"{fits[k][1]:.4f}", f"{fits[k][2]:.4f}", f"{fits[k][3]:.1f}"]
        loss_gap = fits["L-BFGS squared"][2] - fits["L-BFGS log-loss"][2]
        own_gap = fits["default"][2] - fits["L-BFGS log-loss"][2]
        row += [f"{loss_gap:+.4f}", f"{own_gap:+.4f}"]
        print(*row, flush=True)
        one_rows.append(row)

        own = stages(first_layer(fits["default"][0]), Xa, ya, Xv, yv, seed)
        lbfgs = stages(first_layer(fits["L-BFGS log-loss"][0]), Xa, ya, Xv, yv, seed)
        deep = {}
        for depth in (2, 3):
            hidden = (100,) * depth
            deep[depth] = (
                fitted(ADMMClassifier(hidden, random_state=seed), Xa, ya, Xv, yv)[2],
                fitted(
                    MLPClassifier(hidden, early_stopping=True, random_state=seed), Xa, ya, Xv, yv
                )[2],
            )
        srow = [name, seed]
        for depth, k in ((2, 0), (3, 1)):
            srow += [
                f"{own[k]:.4f}",
                f"{lbfgs[k]:.4f}",
                f"{lbfgs[k] - own[k]:+.4f}",
                f"{deep[depth][0]:.4f}",
                f"{deep[depth][1]:.4f}",
            ]
            deltas.append((depth, lbfgs[k] - own[k]))
        print(*srow, flush=True)
        stage_rows.append(srow)

    one_headers = ["dataset", "seed", "train rows", "classes"]
    for k in ONE_LAYER:
        one_headers += [f"{k} train", f"{k} validation", f"{k} s"]
    one_headers += [
        "L-BFGS: squared - log-loss",
        "default - L-BFGS log-loss",
    ]
    stage_headers = ["dataset", "seed"]
    for depth in (2, 3):
        stage_headers += [
            f"{depth} layers: stages on the default's first layer",
            f"{depth}: stages on L-BFGS's first layer",
            f"{depth}: difference",
            f"{depth}: default",
            f"{depth}: MLP adam",
        ]
    summary = []
    for depth in (2, 3):
        d = np.array([v for dd, v in deltas if dd == depth])
        summary.append(
            [
                depth,
                len(d),
                f"{d.mean():+.4f}",
                int((d > 0.005).sum()),
                int((d < -0.005).sum()),
                f"{d.min():+.4f}",
                f"{d.max():+.4f}",
            ]
        )
    rows = "every training row" if rows_cap is None else f"at most {rows_cap} rows"
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, stratified; {rows}; split "
            f"seeds {seeds}, also the models' random_state), 100 units per hidden layer; "
            f"accuracies on the training (75 %) and validation (25 %) rows; L-BFGS has no "
            f"early stopping and runs at most max_iter={LBFGS_ITER} iterations; every fit has "
            "alpha=1e-4; seconds are fit times in this one run.",
        ),
        ("1. One hidden layer", table(one_headers, one_rows)),
        (
            "2. Layer-wise stages (the default's one-layer fit on the standardised "
            "features of the frozen layers below), validation accuracy",
            table(stage_headers, stage_rows),
        ),
        (
            "Stages on L-BFGS's first layer against stages on the default's",
            table(
                [
                    "hidden layers",
                    "cells",
                    "mean difference",
                    "better by > 0.5 point",
                    "worse by > 0.5 point",
                    "worst",
                    "best",
                ],
                summary,
            ),
        ),
    ]
    report(
        "first_layer", "The first hidden layer: its optimiser, its loss, and the stages", sections
    )


if __name__ == "__main__":
    main()
