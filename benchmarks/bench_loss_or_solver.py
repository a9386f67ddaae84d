"""Where the default classifier falls short of the MLP: the squared loss, or the solver.

The default ``ADMMClassifier`` trains its hidden layers on a squared loss (the
least-squares fit of the 0/1 class indicators, after a first phase on hinge
targets) and then fits its output layer to the log-loss; the MLP trains every
layer on the log-loss.  This benchmark separates the two causes of a gap
(issue 14) by fitting, side by side, the same network with backprop on the
squared loss: ``MLPRegressor`` on the 0/1 indicators (one column for two
classes, thresholded at 1/2; one per class otherwise, argmax), with
``early_stopping=True`` like the ``MLPClassifier`` it is compared with
(its early stopping scores the held-out rows' R^2 of the indicators where
the classifiers score their accuracy, so the loss gap holds that
difference too).

- *loss gap*: squared-loss backprop minus log-loss backprop (what the loss
  costs a well-trained network);
- *solver gap*: the default minus squared-loss backprop (what the solver
  leaves of what its own loss can reach).

Training accuracy is reported beside validation accuracy: a solver that
stops at a worse point of its objective shows it on the training rows.
Run on validation splits of the training rows of every classification
dataset (``bench_growth.validation_split``: 75/25, stratified, split seed 0,
all the training rows unless ``--rows`` caps them; ``--quick``: 3,000), 100
units per hidden layer,
``--depths`` hidden layers (default 1,2,3); nothing here reads a test set or
chooses anything.
"""

import time
import warnings

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, validation_split
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skadmm import ADMMClassifier
from skadmm.datasets import DATASETS

MODELS = ("MLP log-loss", "MLP squared", "ADMM")


class SquaredLossMLP:
    """``MLPRegressor`` on the 0/1 class indicators, predicting the largest output
    (two classes: one output, thresholded at 1/2), as the default fits them.
    ``options``: MLPRegressor's other parameters; without any, ``early_stopping=True``
    (given, they replace that default)."""

    def __init__(self, hidden, seed, **options):
        options = options or {"early_stopping": True}
        self.mlp = MLPRegressor(hidden_layer_sizes=hidden, random_state=seed, **options)

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        Y = (y[:, None] == self.classes_[None, :]).astype(float)
        self.mlp.fit(X, Y[:, 1] if len(self.classes_) == 2 else Y)
        return self

    def predict(self, X):
        out = self.mlp.predict(X)
        if out.ndim == 1:
            return self.classes_[(out > 0.5).astype(int)]
        return self.classes_[out.argmax(axis=1)]


def accuracies(model, Xa, ya, Xv, yv):
    """Training and validation accuracy of ``model`` fitted on ``(Xa, ya)``, and its seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        model.fit(Xa, ya)
        t = time.perf_counter() - t
    return float(np.mean(model.predict(Xa) == ya)), float(np.mean(model.predict(Xv) == yv)), t


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2,3", rows=None)
    names = [n for n in names if DATASETS[n][1] != "regression"]
    rows, cells = [], []
    for name in names:
        Xa, Xv, ya, yv, _ = validation_split(name, rows_cap)
        for depth in depths:
            hidden = (100,) * depth
            fits = {
                "MLP log-loss": MLPClassifier(
                    hidden_layer_sizes=hidden, early_stopping=True, random_state=0
                ),
                "MLP squared": SquaredLossMLP(hidden, 0),
                "ADMM": ADMMClassifier(hidden, random_state=0),
            }
            out = {k: accuracies(m, Xa, ya, Xv, yv) for k, m in fits.items()}
            loss_gap = out["MLP squared"][1] - out["MLP log-loss"][1]
            solver_gap = out["ADMM"][1] - out["MLP squared"][1]
            cells.append((depth, loss_gap, solver_gap))
            row = [name, depth]
            for k in MODELS:
                row += [f"{out[k][0]:.4f}", f"{out[k][1]:.4f}"]
            row += [f"{loss_gap:+.4f}", f"{solver_gap:+.4f}"]
            row += [f"{out[k][2]:.1f}" for k in MODELS]
            print(*row, flush=True)
            rows.append(row)
    summary = []
    for depth in depths:
        sel = np.array([c[1:] for c in cells if c[0] == depth])
        summary.append(
            [
                depth,
                len(sel),
                f"{sel[:, 0].mean():+.4f}",
                int((sel[:, 0] < -0.005).sum()),
                f"{sel[:, 1].mean():+.4f}",
                int((sel[:, 1] < -0.005).sum()),
            ]
        )
    headers = ["dataset", "hidden layers"]
    for k in MODELS:
        headers += [f"{k} train", f"{k} validation"]
    headers += ["loss gap", "solver gap"] + [f"{k} s" for k in MODELS]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, stratified, seed 0; "
            f"{'all rows' if rows_cap is None else f'at most {rows_cap} rows'}), 100 units per "
            f"hidden layer, depths {depths}; accuracies; loss "
            "gap = MLP squared minus MLP log-loss, solver gap = ADMM (the default "
            "ADMMClassifier) minus MLP squared, on the validation rows; seconds are fit "
            "times in the same run.",
        ),
        ("Accuracy", table(headers, rows)),
        (
            "Per depth",
            table(
                [
                    "hidden layers",
                    "datasets",
                    "mean loss gap",
                    "loss gap < -0.5 point",
                    "mean solver gap",
                    "solver gap < -0.5 point",
                ],
                summary,
            ),
        ),
    ]
    title = "The squared loss or the solver: where the default falls short"
    report("loss_or_solver", title, sections)


if __name__ == "__main__":
    main()
