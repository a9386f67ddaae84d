"""Reductions and bytes per iteration of the default solver, 1 to 4 hidden layers (issue 14).

Fits the default ``ADMMClassifier`` and ``ADMMRegressor`` (early stopping on:
more than 10,000 rows), and both with ``early_stopping=False``, on the
embedded HIGGS sample (the regressor on the 0/1 labels) with 1 to 4
hidden layers of ``--width`` units (default 100), counting every reduction
the backend performs (``Backend.reduce_accumulator``: one collective each
under MPI) and the bytes it would move, per iteration (between two calls of
the iteration callback), separately for the one-hidden-layer stages of a
grown fit (its first stage and, with a validation split, its layer-wise
stages) and its full network's stage (without a split only), and after the iterations (the output
layer's fit).  The counts per iteration do not depend on the number of rows
or the backend, and the bytes grow with the layer widths only; the output
layer's count follows its Newton and conjugate-gradient iterations, which
depend on the data (and, above 64 rows per feature, on the sample its
preconditioner is formed on).
"""

import warnings

import numpy as np
from _common import parser, report, table
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import skadmm.backends._base as backends_base
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm.datasets import load_higgs

COUNTS = {"n": 0, "bytes": 0}
_reduce = backends_base.Backend.reduce_accumulator


def counting(self, acc):
    COUNTS["n"] += 1
    COUNTS["bytes"] += acc.top.size * backends_base.BYTES_PER_ENTRY
    return _reduce(self, acc)


def measure(Estimator, X, y, hidden, **params):
    marks = []

    def record(it, info):
        marks.append((it, COUNTS["n"], COUNTS["bytes"], info["residuals"].copy()))

    COUNTS.update(n=0, bytes=0)
    backends_base.Backend.reduce_accumulator = counting
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = Estimator(hidden_layer_sizes=hidden, random_state=0, callback=record, **params)
            est.fit(X, y)
    finally:
        backends_base.Backend.reduce_accumulator = _reduce
    n = np.array([m[1] for m in marks])
    b = np.array([m[2] for m in marks])
    # a grown fit's one-hidden-layer stages (the first, the layer-wise ones): the
    # iterations whose residuals are those of a network with one hidden layer
    stage1 = np.array([m[3].size < len(hidden) + 1 for m in marks])
    dn, db = np.diff(n), np.diff(b)
    s1, s2 = stage1[1:], ~stage1[1:]
    out = {
        "iterations": len(marks),
        "one-layer stages": int(stage1.sum()),
        "reductions / iteration (one-layer stages)": np.median(dn[s1]) if s1.any() else np.nan,
        "KiB / iteration (one-layer stages)": np.median(db[s1]) / 1024 if s1.any() else np.nan,
        "reductions / iteration": np.median(dn[s2]) if s2.any() else np.nan,
        "KiB / iteration": np.median(db[s2]) / 1024 if s2.any() else np.nan,
        "up to the end of iteration 1": int(n[0]),
        "after the iterations": COUNTS["n"] - int(n[-1]),
        "KiB after": (COUNTS["bytes"] - int(b[-1])) / 1024,
    }
    return out


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=100)
    args = p.parse_args()
    X, y = load_higgs(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rows = []
    fits = (
        (ADMMClassifier, y, {}),
        (ADMMClassifier, y, {"early_stopping": False}),
        (ADMMRegressor, y.astype(float), {}),
        (ADMMRegressor, y.astype(float), {"early_stopping": False}),
    )
    for Estimator, target, params in fits:
        name = Estimator.__name__ + "".join(f", {k}={v}" for k, v in params.items())
        for depth in (1, 2, 3, 4):
            m = measure(Estimator, X, target, (args.width,) * depth, **params)
            print(name, depth, m, flush=True)
            rows.append([name, depth, *[f"{v:.4g}" for v in m.values()]])
    headers = ["estimator", "hidden layers", *m.keys()]
    sections = [
        (
            None,
            f"embedded HIGGS sample ({len(X)} rows, 28 features), {args.width} units per hidden "
            "layer, default settings (early stopping: both estimators' auto rule turns it on "
            "here; a validation split runs a deep network's layer-wise stages and no "
            "full-network stage), and the same with early_stopping=False (no split: the "
            "first layer's stage, then the full network's); per iteration: the median "
            "over the iterations of each stage; bytes are what a "
            "distributed backend moves per reduction (exact sums: digits and their indices).",
        ),
        ("Reductions and bytes", table(headers, rows)),
    ]
    report("communication", "Reductions and bytes per iteration", sections)


if __name__ == "__main__":
    main()
