"""The output layer's Newton steps in float32: the Hessian-vector products' dtype.

The classifiers' log-loss output layer is fitted after the iterations by
Newton-CG (``skadmm._readout.fit_log_loss_readout``), along a ridge path
chosen on the validation rows.  Almost all of its time is the
conjugate-gradient iterations, each one Hessian-vector product: two
products of the ``n x h`` features with an ``h x K`` matrix, skinny ones
that run far below the GEMM peak (one product on random ReLU features of
krkopt's shape, 16,833 x 100 with 18 classes, in blocks of 1,024 rows, on
this machine, measured once while building it: 5.1 ms in float64 against
3.0 ms in float32).  A
product only decides a Newton step, and an inexact step still descends: with
``SolverOptions.readout_products="float32"`` (the default) float64
features are copied into float32 once, the products and the
preconditioner's weighted Gram matrix run in float32, and the objective,
the gradient, the convergence test and the Armijo search stay float64, so
every ridge is solved to the same tolerance.  ``"data"`` keeps the data's
dtype (the previous default).

Both are fitted side by side (in turn first: ``"data"`` at even split seeds,
``"float32"`` at odd ones) with the default
``ADMMClassifier`` (100 units per hidden layer, ``random_state=0``) on
validation splits of the training rows of every shared classification
dataset (``bench_growth.validation_split``: 75/25, stratified, every
training row unless ``--rows``, split seeds ``--seeds``), 1 and 2 hidden
layers (``--depths``); the hidden layers are the same in both (the output
layer is fitted once, after the iterations; checked).  The estimator
holds out its own validation rows from the 75 %, on which the path
chooses the ridge; reported per cell, on the other 25 %: the accuracy and
log-loss of the returned model; and the ridge the path chose, the
conjugate-gradient iterations, the seconds inside the output layer's
Newton fits (not the float32 copy, one pass over the features) and of
the whole fit.  Nothing here reads a test set.
"""

import time

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, split_setting, validation_cells
from sklearn.metrics import log_loss

import skadmm._readout as readout
import skadmm._solver._output as output
from skadmm import ADMMClassifier
from skadmm._solver import SolverOptions

#: label -> readout_products; the first is the base of the comparison
VARIANTS = {"data's dtype (float64)": "data", "float32 (default)": "float32"}


def options(mode):
    return lambda **kwargs: SolverOptions(**{**kwargs, "readout_products": mode})


def run(Xa, ya, Xv, yv, depth, mode):
    """``(accuracy, log-loss, ridge, CG iterations, output layer s, fit s)`` of one fit,
    and its hidden layers."""
    counts = {"t": 0.0, "cg": 0}

    def timed(*args, **kwargs):
        t = time.perf_counter()
        res = readout.fit_log_loss_readout(*args, **kwargs)
        counts["t"] += time.perf_counter() - t
        counts["cg"] += res.n_cg
        return res

    output.fit_log_loss_readout = timed
    try:
        model = ADMMClassifier((100,) * depth, random_state=0)
        acc, seconds, _ = fit(model, Xa, ya, Xv, yv, options(mode))
    finally:
        output.fit_log_loss_readout = readout.fit_log_loss_readout
    ll = log_loss(yv, model.predict_proba(Xv), labels=model.classes_)
    out = acc, ll, model.readout_alpha_, counts["cg"], counts["t"], seconds
    return out, model.coefs_[:-1]


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True, rows=None)
    rows, cells = [], []
    for name, seed, depth, (Xa, Xv, ya, yv, _) in validation_cells(
        names, rows_cap, seeds, depths, classification=True
    ):
        modes = list(VARIANTS.values())[:: -1 if seed % 2 else 1]  # in turn first
        fits = {mode: run(Xa, ya, Xv, yv, depth, mode) for mode in modes}
        (base, hidden), (new, other) = (fits[mode] for mode in VARIANTS.values())
        for a, b in zip(hidden, other):  # the iterations do not see the output layer's fit
            np.testing.assert_array_equal(a, b)
        cells.append((name, depth, base, new))
        row = [name, seed, depth, Xa.shape[0]]
        row += [f"{base[0]:.4f}", f"{new[0]:.4f}", f"{new[0] - base[0]:+.4f}"]
        row += [f"{base[1]:.4f}", f"{new[1]:.4f}", f"{new[1] - base[1]:+.4f}"]
        row += [f"{base[2]:.3g}", f"{new[2]:.3g}", base[3], new[3]]
        row += [f"{base[4]:.2f}", f"{new[4]:.2f}", f"{new[4] / base[4]:.2f}"]
        row += [f"{base[5]:.2f}", f"{new[5]:.2f}", f"{new[5] / base[5]:.2f}"]
        print(*row, flush=True)
        rows.append(row)
    a, b = VARIANTS
    headers = ["dataset", "split seed", "hidden layers", "fit rows"]
    headers += [f"accuracy {a}", f"accuracy {b}", "change"]
    headers += [f"log-loss {a}", f"log-loss {b}", "log-loss change"]
    headers += [f"ridge {a}", f"ridge {b}", f"CG {a}", f"CG {b}"]
    headers += [f"output layer s {a}", f"output layer s {b}", "output layer ratio"]
    headers += [f"fit s {a}", f"fit s {b}", "fit ratio"]
    groups = [("all", cells)] + [
        (n, [c for c in cells if c[0] == n]) for n in dict.fromkeys(c[0] for c in cells)
    ]
    summary = []
    for label, sel in groups:
        d_acc = np.array([c[3][0] - c[2][0] for c in sel])
        d_ll = np.array([c[3][1] - c[2][1] for c in sel])
        same = sum(np.isclose(c[3][2], c[2][2]) for c in sel)
        out_ratio = np.exp(np.mean([np.log(c[3][4] / c[2][4]) for c in sel]))
        fit_ratio = np.exp(np.mean([np.log(c[3][5] / c[2][5]) for c in sel]))
        summary.append(
            [label, len(sel), f"{d_acc.mean():+.4f}", f"{d_acc.min():+.4f}", f"{d_acc.max():+.4f}"]
            + [f"{d_ll.mean():+.4f}", f"{np.abs(d_ll).max():.4f}", f"{same} of {len(sel)}"]
            + [f"{out_ratio:.2f}", f"{fit_ratio:.2f}"]
        )
    summary_headers = ["cells", "n", "accuracy change: mean", "worst", "best"]
    summary_headers += ["log-loss change: mean", "largest abs change", "same ridge"]
    summary_headers += ["output layer time ratio (geometric mean)"]
    summary_headers += ["fit time ratio (geometric mean)"]
    report(
        "readout_products",
        "The output layer's Newton steps: float32 products against the data's dtype",
        [
            (
                None,
                split_setting(rows_cap, seeds, depths) + "the default ADMMClassifier, "
                "random_state=0 (the path chooses the ridge on the estimator's own held-out "
                "rows); accuracy and log-loss on the 25 %; changes and "
                "ratios are float32 products against the data's dtype (float64); seconds are "
                "from the same run, each first in turn (the data's dtype at even split seeds).",
            ),
            ("Summary", table(summary_headers, summary)),
            ("Every cell", table(headers, rows)),
        ],
    )


if __name__ == "__main__":
    main()
