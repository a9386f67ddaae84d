"""What early stopping judges: the validation accuracy (default) or squared error.

A classifier's early stopping (``early_stopping``, ``n_iter_no_change``,
``tol``), its choice of the best iterate and a grown fit's judgement of each
layer-wise stage all read the validation score of the iterate, whose output
layer is the least-squares fit of the 0/1 class indicators.  The default,
as scikit-learn's MLP, scores the accuracy: on many-class problems it moves
in steps and stays flat for stretches (krkopt's one-hidden-layer fit: 0.46
from its fifth iteration, then early stopping's patience ends the fit at 15
iterations with 0.536 training accuracy; with ``n_iter_no_change=20`` and no
search rule it reached 0.508 against 0.469 on the held-out rows, 65
iterations).  This benchmark measures the alternative: the same rules on
minus the mean squared error of the output layer's least-squares fit on the
held-out rows (the searched objective itself, which moves with every
accepted step), by a subclass that changes only the score the fit sees.
The returned model's accuracy on the validation split is what is reported
(its output layer refitted to the log-loss as always).

Run on validation splits of the training rows (``bench_growth.validation_split``:
75/25, stratified, at most 10,000 rows, split seeds ``--seeds``), 100 units
per layer, 1 and 2 hidden layers, every classification dataset; nothing here
reads a test set.  Times are fit seconds, side by side in one run.
"""

import time
import warnings

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, pair_summary, split_setting, validation_cells
from sklearn.exceptions import ConvergenceWarning

from skadmm import ADMMClassifier


class SquaredErrorStopping(ADMMClassifier):
    """ADMMClassifier whose validation score is minus the mean squared error of the
    iterate's least-squares output on the 0/1 indicators (binary: the view's logit
    shift of 1/2 undone)."""

    def _score_sums(self, raw, Y, sample_weight):
        pred = raw + 0.5 if raw.shape[1] == 1 else raw
        err = np.sum((Y - pred) ** 2, axis=1)
        w = np.ones(len(err)) if sample_weight is None else sample_weight
        return np.array([np.dot(err, w), w.sum()], dtype=np.float64)

    def _score_from_sums(self, sums):
        return -float(sums[0] / sums[1]) if sums[1] > 0 else 0.0


def fit(model, Xa, ya, Xv, yv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        model.fit(Xa, ya)
        t = time.perf_counter() - t
    return float(np.mean(model.predict(Xv) == yv)), t, model.n_iter_


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True)
    rows, cells = [], []
    for name, seed, depth, (Xa, Xv, ya, yv, _) in validation_cells(
        names, rows_cap, seeds, depths, classification=True
    ):
        hidden = (100,) * depth
        base = fit(ADMMClassifier(hidden, random_state=0), Xa, ya, Xv, yv)
        other = fit(SquaredErrorStopping(hidden, random_state=0), Xa, ya, Xv, yv)
        cells.append((name, depth, base, other))
        row = [name, seed, depth, f"{base[0]:.4f}", f"{other[0]:.4f}"]
        row += [f"{other[0] - base[0]:+.4f}", f"{base[1]:.1f}", f"{other[1]:.1f}"]
        row += [f"{other[1] / base[1]:.2f}", base[2], other[2]]
        print(*row, flush=True)
        rows.append(row)
    summary_headers, summary = pair_summary(cells, depths)
    headers = ["dataset", "split seed", "hidden layers", "accuracy (default)"]
    headers += ["squared error", "change", "default s", "squared error s", "time ratio"]
    headers += ["default iterations", "squared error iterations"]
    sections = [
        (
            None,
            split_setting(rows_cap, seeds, depths) + "scores are the "
            "returned models' validation accuracy; times are fit seconds in the same run; "
            "changes are the squared-error score's minus the default's.",
        ),
        ("Validation accuracy", table(headers, rows)),
        (
            "Squared error against accuracy",
            table(summary_headers, summary),
        ),
    ]
    report("stopping_score", "What early stopping judges, on validation splits", sections)


if __name__ == "__main__":
    main()
