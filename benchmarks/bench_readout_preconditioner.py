"""The softmax output layer's Newton preconditioner: with the classes' coupling or without.

The classifier's log-loss output layer (``skadmm._readout.fit_log_loss_readout``)
preconditions its conjugate gradients, for the softmax, with ``H (x) Qn +
alpha D (x) I`` (``skadmm._readout._coupled_preconditioner``): ``H`` the
features' Gram weighted by the rows' mean curvature, ``Qn`` the rows' class
curvature ``sum s (diag p - p p^T)`` scaled to trace ``K``.  Without the
coupling it is ``H (x) I``, the mean of the Hessian's diagonal blocks (the
previous default).  Both solve the same problem to the same tolerance; only
the conjugate-gradient iterations, and so the time, differ.  On every shared
many-class dataset (a binary output layer has no coupling: the same code as
before), as ``bench_growth.py`` splits it (75/25 of the training rows, seed 0,
at most ``--rows`` rows), the default ``ADMMClassifier`` with 1 and 2 hidden
layers of 100 units (``--depths``): Newton steps and conjugate-gradient
iterations of every output-layer fit, their time, the fit's time and the
validation accuracy.
"""

import time

import numpy as np
from _common import report, table, timed_default_classifier
from bench_growth import grid_arguments, validation_split

import skadmm._readout as readout
import skadmm._solver._output as output
from skadmm.datasets import DATASETS

CONFIGS = ("coupled (default)", "uncoupled (previous)")


def fit(Xa, ya, Xv, yv, depth, config):
    fits = []

    def counted(*args, **kwargs):
        t = time.perf_counter()
        res = readout.fit_log_loss_readout(*args, **kwargs)
        fits.append((res.n_iter, res.n_cg, time.perf_counter() - t))
        return res

    coupled = readout._coupled_preconditioner
    output.fit_log_loss_readout = counted
    if config != CONFIGS[0]:
        readout._coupled_preconditioner = lambda H, Q, alpha, gram: readout._preconditioner(
            H, alpha, gram
        )
    try:
        m, t = timed_default_classifier(Xa, ya, depth)
    finally:
        output.fit_log_loss_readout = readout.fit_log_loss_readout
        readout._coupled_preconditioner = coupled
    newton, cg, readout_s = np.array(fits).sum(axis=0)
    return m.score(Xv, yv), int(newton), int(cg), readout_s, t


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2")
    names = [n for n in names if DATASETS[n][1] == "multiclass"]
    rows, ratios = [], []
    for name in names:
        Xa, Xv, ya, yv, _ = validation_split(name, rows_cap)
        for depth in depths:
            cells = [fit(Xa, ya, Xv, yv, depth, c) for c in CONFIGS]
            for config, (acc, newton, cg, readout_s, t) in zip(CONFIGS, cells):
                print(name, depth, config, acc, newton, cg, round(readout_s, 2), round(t, 2))
                rows.append(
                    [name, depth, config, f"{acc:.4f}", newton, cg]
                    + [f"{readout_s:.2f}", f"{t:.2f}"]
                )
            (_, _, cg0, r0, t0), (_, _, cg1, r1, t1) = cells
            ratios.append((cg1 / cg0, r1 / r0, t1 / t0))
    r = np.array(ratios)
    summary = [
        [what, f"{np.exp(np.mean(np.log(r[:, k]))):.2f}", f"{r[:, k].min():.2f}"]
        + [f"{r[:, k].max():.2f}"]
        for k, what in enumerate(["CG iterations", "output-layer time", "fit time"])
    ]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; at most {rows_cap} rows), "
            "100 units per hidden layer, the default ADMMClassifier with the softmax "
            "preconditioner's class coupling kept (default) or dropped; serial.",
        ),
        (
            "Summary: uncoupled / coupled",
            table(["measure", "geometric mean", "smallest", "largest"], summary),
        ),
        (
            "Per dataset",
            table(
                ["dataset", "hidden layers", "preconditioner", "accuracy", "Newton steps"]
                + ["CG iterations", "output layer s", "fit s"],
                rows,
            ),
        ),
    ]
    report("readout_preconditioner", "The softmax output layer's preconditioner", sections)


if __name__ == "__main__":
    main()
