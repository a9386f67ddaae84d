"""The classifier's ridge path: how precisely each point is solved, on validation splits.

With held-out rows the classifier chooses its log-loss output layer's ridge
along a path (``skadmm._readout.fit_readout_path``): each point is solved by
Newton-CG, warm-started from the one before, and the chosen one is then
solved to the default tolerance (a mean-loss gradient of ``1e-8``).  This
script compares the tolerance of the path's points (``path_tol``: ``None``
is ``1e-8``, every point solved fully; ``1e-4`` is the default) on every
shared classification dataset, as ``bench_growth.py`` splits it (75/25 of the
training rows, seed 0, at most ``--rows`` rows), with one hidden layer of
100 units: the ridge chosen, the validation accuracy and log-loss of the
returned model, its Newton steps (``readout_n_iter_``) and the fit time.
"""

import functools
import time
import warnings

from _common import report, table
from bench_growth import grid_arguments, validation_split
from sklearn.metrics import log_loss

import skadmm._readout as readout
import skadmm._solver._output as output
from skadmm import ADMMClassifier
from skadmm.datasets import DATASETS

PATH_TOLS = (None, 1e-4, 1e-3)


def fit(Xa, ya, Xv, yv, depth, path_tol):
    output.fit_readout_path = functools.partial(readout.fit_readout_path, path_tol=path_tol)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ADMMClassifier(hidden_layer_sizes=(100,) * depth, random_state=0)
            t = time.perf_counter()
            m.fit(Xa, ya)
            t = time.perf_counter() - t
    finally:
        output.fit_readout_path = readout.fit_readout_path
    ll = log_loss(yv, m.predict_proba(Xv), labels=m.classes_)
    return m.score(Xv, yv), ll, m.readout_alpha_, m.readout_n_iter_, t


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1")
    names = [n for n in names if DATASETS[n][1] != "regression"]
    rows = []
    for name in names:
        Xa, Xv, ya, yv, _ = validation_split(name, rows_cap)
        for depth in depths:
            for path_tol in PATH_TOLS:
                acc, ll, ridge, newton, t = fit(Xa, ya, Xv, yv, depth, path_tol)
                print(name, depth, path_tol, acc, ll, ridge, newton, round(t, 2), flush=True)
                label = "1e-8 (every point)" if path_tol is None else f"{path_tol:g}"
                rows.append(
                    [name, depth, label, f"{ridge:.3g}", f"{acc:.4f}", f"{ll:.4f}", newton]
                    + [f"{t:.2f}"]
                )
    headers = ["dataset", "hidden layers", "path_tol", "ridge", "accuracy", "log-loss"]
    headers += ["Newton steps", "fit s"]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; at most {rows_cap} rows), "
            "100 units per hidden layer, the default ADMMClassifier with the tolerance of the "
            "ridge path's points replaced; accuracy and log-loss of the returned model on the "
            "validation rows (which the estimator never sees: it holds out its own split).",
        ),
        ("Per dataset", table(headers, rows)),
    ]
    report("readout_path", "The output layer's ridge path: tolerance of its points", sections)


if __name__ == "__main__":
    main()
