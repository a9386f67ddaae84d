"""The output layer's Newton preconditioner: when it is formed, and the softmax's class coupling.

The classifier's log-loss output layer (``skadmm._readout.fit_log_loss_readout``)
finds its Newton steps by preconditioned conjugate gradients.  Two choices of
that preconditioner, each against the default, side by side in one run:

* **when it is formed** (``refresh``): the default forms it at a fit's
  first Newton step and again only once it has gone stale (the gradient's
  largest entry fell ``STALE_DECREASE`` times since, or the last step's
  conjugate gradients hit their cap or took more than twice as many
  iterations as the first step after the last refresh, and more than
  ``STALE_CG``); the previous default formed it at every Newton step.  Every
  classification dataset (a binary output layer's preconditioner is its
  exact Hessian on the sampled rows: the same question);
* **the softmax's class coupling**: ``H (x) Qn + alpha D (x) I``
  (``skadmm._readout._coupled_preconditioner``, the default), ``H`` the
  features' Gram weighted by the rows' mean curvature, ``Qn`` the rows' class
  curvature ``sum s (diag p - p p^T)`` scaled to trace ``K``; without it,
  ``H (x) I``, the mean of the Hessian's diagonal blocks (the default before
  it).  Many-class datasets only, both formed lazily.

Every variant solves the same problems to the same tolerance; only the
preconditioners formed, the conjugate-gradient iterations, and so the time,
differ (and, through a path point's rounding, at most the last digits of the
validation loss that chooses the ridge).  On every shared classification
dataset, as ``bench_growth.py`` splits it (75/25 of the training rows, seed 0,
at most ``--rows`` rows), the default ``ADMMClassifier`` with 1 and 2 hidden
layers of 100 units (``--depths``), serial: Newton steps, preconditioners
formed and conjugate-gradient iterations of every output-layer fit, their
time, the fit's time and the validation accuracy.
"""

import time

import numpy as np
from _common import report, table, timed_default_classifier
from bench_growth import grid_arguments, validation_split

import skadmm._readout as readout
import skadmm._solver._output as output
from skadmm.datasets import DATASETS

DEFAULT = "coupled, lazy (default)"
EVERY = "coupled, every step (previous)"
UNCOUPLED = "uncoupled, lazy"


def fit(Xa, ya, Xv, yv, depth, config):
    fits = []

    def counted(*args, **kwargs):
        if config == EVERY:
            kwargs["refresh"] = "every"
        t = time.perf_counter()
        res = readout.fit_log_loss_readout(*args, **kwargs)
        fits.append((res.n_iter, res.n_preconditioners, res.n_cg, time.perf_counter() - t))
        return res

    coupled = readout._coupled_preconditioner
    output.fit_log_loss_readout = counted
    if config == UNCOUPLED:
        readout._coupled_preconditioner = lambda H, Q, alpha, gram: readout._preconditioner(
            H, alpha, gram
        )
    try:
        m, t = timed_default_classifier(Xa, ya, depth, backend="serial")
    finally:
        output.fit_log_loss_readout = readout.fit_log_loss_readout
        readout._coupled_preconditioner = coupled
    newton, formed, cg, readout_s = np.array(fits).sum(axis=0)
    return m.score(Xv, yv), int(newton), int(formed), int(cg), readout_s, t


def _summary(ratios):
    r = np.array(ratios)
    return [
        [what, f"{np.exp(np.mean(np.log(r[:, k]))):.2f}", f"{r[:, k].min():.2f}"]
        + [f"{r[:, k].max():.2f}"]
        for k, what in enumerate(["CG iterations", "output-layer time", "fit time"])
    ]


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2")
    names = [n for n in names if DATASETS[n][1] != "regression"]
    rows, ratios, accuracy = [], {EVERY: [], UNCOUPLED: []}, {EVERY: [], UNCOUPLED: []}
    for name in names:
        Xa, Xv, ya, yv, _ = validation_split(name, rows_cap)
        many = DATASETS[name][1] == "multiclass"
        configs = (DEFAULT, EVERY, UNCOUPLED) if many else (DEFAULT, EVERY)
        for depth in depths:
            cells = {c: fit(Xa, ya, Xv, yv, depth, c) for c in configs}
            for config, (acc, newton, formed, cg, readout_s, t) in cells.items():
                print(
                    name, depth, config, acc, newton, formed, cg, round(readout_s, 2), round(t, 2)
                )
                rows.append(
                    [name, depth, config, f"{acc:.4f}", newton, formed, cg]
                    + [f"{readout_s:.2f}", f"{t:.2f}"]
                )
            base = cells[DEFAULT]
            for config in configs[1:]:
                other = cells[config]
                ratios[config].append((other[3] / base[3], other[4] / base[4], other[5] / base[5]))
                accuracy[config].append(other[0] - base[0])
    header = ["measure", "geometric mean", "smallest", "largest"]
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; at most {rows_cap} rows), "
            "100 units per hidden layer, the default ADMMClassifier with its output layer's "
            "preconditioner formed lazily (default) or at every Newton step (previous), and, "
            "for the many-class sets, with the softmax's class coupling dropped; serial.",
        ),
        (
            "Summary: every step / lazy (all classification sets)",
            table(header, _summary(ratios[EVERY]))
            + "\n\nValidation accuracy, every step - lazy: "
            + f"{min(accuracy[EVERY]):+.4f} to {max(accuracy[EVERY]):+.4f}.",
        ),
        (
            "Summary: uncoupled / coupled (many-class sets, both lazy)",
            table(header, _summary(ratios[UNCOUPLED]))
            + "\n\nValidation accuracy, uncoupled - coupled: "
            + f"{min(accuracy[UNCOUPLED]):+.4f} to {max(accuracy[UNCOUPLED]):+.4f}.",
        ),
        (
            "Per dataset",
            table(
                ["dataset", "hidden layers", "preconditioner", "accuracy", "Newton steps"]
                + ["preconditioners formed", "CG iterations", "output layer s", "fit s"],
                rows,
            ),
        ),
    ]
    report("readout_preconditioner", "The output layer's Newton preconditioner", sections)


if __name__ == "__main__":
    main()
