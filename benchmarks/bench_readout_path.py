"""The classifier's output layer: how precisely it is solved, on validation splits.

With held-out rows the classifier chooses its log-loss output layer's ridge
along a path (``skadmm._readout.fit_readout_path``): each point is solved by
Newton-CG to ``path_tol``, warm-started from the one before, and the chosen
one is returned solved to the output layer's final tolerance
(``_LogLossOutput.final_tolerance``: the estimator's ``tol``, ``1e-4`` by
default, as :class:`~sklearn.linear_model.LogisticRegression`; the chosen
path point as it is when that is no tighter than ``path_tol``).  This script
compares, on every shared classification dataset as ``bench_growth.py``
splits it (75/25 of the training rows, seed 0, at most ``--rows`` rows), with
1 and 2 hidden layers of 100 units (``--depths``):

- every point solved to a mean-loss gradient of ``1e-8`` (``path_tol=None``);
- points to ``1e-4``, the chosen one then solved on to ``1e-8`` (the
  previous default);
- points to ``1e-4``, the chosen one returned as it is (the default);
- points to ``1e-3``, the chosen one solved on to ``1e-4``;

with the ridge chosen, the validation accuracy and log-loss of the returned
model, its Newton steps (``readout_n_iter_``) and the fit time.
"""

import functools

import numpy as np
from _common import report, table, timed_default_classifier
from bench_growth import grid_arguments, validation_split
from sklearn.metrics import log_loss

import skadmm._readout as readout
import skadmm._solver._output as output
from skadmm.datasets import DATASETS

#: label -> (path_tol, final tolerance: "tol" the default, None the 1e-8 floor)
CONFIGS = {
    "every point to 1e-8": (None, None),
    "1e-4, chosen to 1e-8 (previous)": (1e-4, None),
    "1e-4, chosen as it is (default)": (1e-4, "tol"),
    "1e-3, chosen to 1e-4": (1e-3, "tol"),
}
DEFAULT = "1e-4, chosen as it is (default)"


def fit(Xa, ya, Xv, yv, depth, config):
    path_tol, final = CONFIGS[config]
    default_final = output._LogLossOutput.final_tolerance
    output.fit_readout_path = functools.partial(readout.fit_readout_path, path_tol=path_tol)
    if final is None:
        output._LogLossOutput.final_tolerance = lambda self: None
    try:
        m, t = timed_default_classifier(Xa, ya, depth)
    finally:
        output.fit_readout_path = readout.fit_readout_path
        output._LogLossOutput.final_tolerance = default_final
    ll = log_loss(yv, m.predict_proba(Xv), labels=m.classes_)
    return m.score(Xv, yv), ll, m.readout_alpha_, m.readout_n_iter_, t


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2")
    names = [n for n in names if DATASETS[n][1] != "regression"]
    rows, summary = [], {c: [] for c in CONFIGS}
    for name in names:
        Xa, Xv, ya, yv, _ = validation_split(name, rows_cap)
        for depth in depths:
            cells = {c: fit(Xa, ya, Xv, yv, depth, c) for c in CONFIGS}
            ref = cells[DEFAULT]
            for config, (acc, ll, ridge, newton, t) in cells.items():
                print(name, depth, config, acc, ll, ridge, newton, round(t, 2), flush=True)
                rows.append(
                    [name, depth, config, f"{ridge:.3g}", f"{acc:.4f}", f"{ll:.4f}", newton]
                    + [f"{t:.2f}"]
                )
                summary[config].append((acc - ref[0], ll - ref[1], t / ref[4]))
    headers = ["dataset", "hidden layers", "path points, chosen fit", "ridge", "accuracy"]
    headers += ["log-loss", "Newton steps", "fit s"]
    srows = []
    for config, cells in summary.items():
        d = np.array(cells)
        srows.append(
            [
                config,
                f"{d[:, 0].min():+.4f} / {d[:, 0].max():+.4f}",
                f"{d[:, 1].min():+.4f} / {d[:, 1].max():+.4f}",
                f"{np.exp(np.mean(np.log(d[:, 2]))):.2f}",
                f"{d[:, 2].max():.2f}",
            ]
        )
    sheaders = ["tolerances", "accuracy - default (min / max)", "log-loss - default (min / max)"]
    sheaders += ["fit time / default (geometric mean)", "(largest)"]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; at most {rows_cap} rows), "
            "100 units per hidden layer, the default ADMMClassifier with the tolerances of "
            "the output layer's fit replaced; accuracy and log-loss of the returned model on "
            "the validation rows (which the estimator never sees: it holds out its own split).",
        ),
        ("Summary", table(sheaders, srows)),
        ("Per dataset", table(headers, rows)),
    ]
    report(
        "readout_path",
        "The output layer's fit: tolerance of the path and the chosen fit",
        sections,
    )


if __name__ == "__main__":
    main()
