"""The output layer's Newton preconditioner on a sample of the rows: how many rows per feature.

The classifier's log-loss output layer is fitted by Newton-CG
(``skadmm._readout.fit_log_loss_readout``).  Its preconditioner, one weighted
Gram matrix of the hidden features each time it is formed (at the first Newton
step, then once stale), one product per chunk of rows, is formed on every
``s``-th row (by global index), ``s`` the largest stride that keeps at least
``SAMPLE_ROWS_PER_FEATURE`` rows per feature
(``skadmm._solver._output``); the gradients and Hessian-vector products use
every row, so only the number of conjugate-gradient iterations (and the
time) may change, not the problem solved.  This script compares 16, 32 and
64 rows per feature and the whole rows, on every shared classification
dataset (training rows only, 75/25 validation split as ``bench_growth.py``
makes it, at most ``--rows`` rows: every training row unless given, as in
the committed table) and on 100,000 HIGGS-shaped synthetic
rows (labelled), with the default ``ADMMClassifier`` of one hidden layer
(100 units; 300 for the synthetic set) stopped after 5 iterations: the time
of the output layer's Newton-CG fits, Newton steps, conjugate-gradient iterations, the
ridge chosen and the validation accuracy and log-loss of the returned model.
"""

import time
import warnings

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, validation_split
from bench_roofline import synthetic
from sklearn.metrics import log_loss

import skadmm._readout as readout
import skadmm._solver._output as output
from skadmm import ADMMClassifier
from skadmm.datasets import DATASETS

SAMPLES = (16, 32, 64, None)


def fit(Xa, ya, Xv, yv, hidden, per_feature):
    counts = {"t": 0.0, "newton": 0, "cg": 0}

    def timed(*args, **kwargs):
        t = time.perf_counter()
        res = readout.fit_log_loss_readout(*args, **kwargs)
        counts["t"] += time.perf_counter() - t
        counts["newton"] += res.n_iter
        counts["cg"] += res.n_cg
        return res

    saved = output.SAMPLE_ROWS_PER_FEATURE
    output.SAMPLE_ROWS_PER_FEATURE = np.inf if per_feature is None else per_feature
    output.fit_log_loss_readout = timed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ADMMClassifier(hidden_layer_sizes=(hidden,), max_iter=5, random_state=0)
            m.fit(Xa, ya)
    finally:
        output.SAMPLE_ROWS_PER_FEATURE = saved
        output.fit_log_loss_readout = readout.fit_log_loss_readout
    ll = log_loss(yv, m.predict_proba(Xv), labels=m.classes_)
    return counts, m.readout_alpha_, m.score(Xv, yv), ll


def main():
    rows_cap, _, names = grid_arguments(__doc__, "1", rows=None)
    names = [n for n in names if DATASETS[n][1] != "regression"]
    sets = [(n, 100) for n in names] + [("higgs-shaped synthetic 100k", 300)]
    out = []
    for name, hidden in sets:
        if name.startswith("higgs-shaped"):
            X, y = synthetic(100_000, np.float64)
            cut = 75_000
            Xa, Xv, ya, yv = X[:cut], X[cut:], y[:cut], y[cut:]
        else:
            Xa, Xv, ya, yv, _ = validation_split(name, rows_cap)
        base = None
        for per_feature in SAMPLES:
            counts, ridge, acc, ll = fit(Xa, ya, Xv, yv, hidden, per_feature)
            base = counts["t"] if per_feature is None else base
            label = "all rows" if per_feature is None else per_feature
            print(name, label, counts, ridge, acc, ll, flush=True)
            out.append(
                [name, Xa.shape[0], label, f"{counts['t']:.2f}", counts["newton"], counts["cg"]]
                + [f"{ridge:.4g}", f"{acc:.4f}", f"{ll:.4f}"]
            )
        for row in out[-len(SAMPLES) :]:
            row.append(f"{float(row[3]) / max(base, 1e-12):.2f}")
    headers = ["dataset", "training rows", "rows per feature", "output layer s", "Newton"]
    headers += ["CG", "ridge", "val accuracy", "val log-loss", "time / all rows"]
    report(
        "readout_sample",
        "The output layer's preconditioner on a sample of the rows",
        [("One hidden layer, 5 iterations, validation splits", table(headers, out))],
    )


if __name__ == "__main__":
    main()
