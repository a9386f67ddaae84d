"""Where a default fit's time goes: the iterations against everything outside them.

Issue 17's target: time outside the iterations (set-up, the classifier's
log-loss output layer with its ridge path and temperature) is at most 10 %
of the fit.  For the default ``ADMMClassifier`` (every setting default, 300
hidden units, but ``backend="serial"``, the default when the committed table
was measured), in one run, side by side:

* the default, which returns the output layer its ridge path chose solved
  to the estimator's ``tol`` (``_LogLossOutput.final_tolerance``: a
  mean-loss gradient of ``1e-4``, as
  :class:`~sklearn.linear_model.LogisticRegression`; the path point as it
  is);
* the previous default, which solved it on to the floor, ``max(1e-8, 100
  eps)`` of the data's dtype (``1e-8`` in float64, about ``1.2e-5`` in
  float32; labelled);
* the default with the output layer's Newton preconditioner formed at
  every Newton step (the default forms it lazily, once stale:
  ``fit_log_loss_readout``'s ``refresh``; labelled).

Without early stopping there is no path: the default solves the output
layer at ``alpha`` to ``tol`` as well, the previous default to the floor.

Each problem is fitted once for one iteration before the measured fits, so
that none of them pays the process's first use of its memory.  On the
HIGGS-shaped synthetic rows of ``bench_roofline.py`` (28 features,
binary; labelled *synthetic*; float64 and float32), with early stopping as
``"auto"`` sets it (on: the ridge path on held-out rows) and off (the output
layer at ``alpha``), and on the full training sets of krkopt (18 classes)
and Fashion-MNIST (10 classes, 60,000 x 784, standardised).  The iterations'
time is ``iteration_time_ * n_iter_`` (the clock of the loop); the rest of the
wall time of ``fit`` is outside.
"""

import time
import warnings

import numpy as np
from _common import maybe_rerun_without_openblas_env, parser, report, table
from bench_roofline import synthetic
from bench_time_to_score import data

import skadmm._solver._output as output
from skadmm import ADMMClassifier
from skadmm._readout import gradient_floor

CONFIGS = {
    "default (output layer to tol)": None,
    "previous (output layer to the floor)": "floor",
    "preconditioner at every Newton step": "every",
}


def fit(X, y, previous, **params):
    default_final = output._LogLossOutput.final_tolerance
    readout = output.fit_log_loss_readout
    if previous == "floor":
        # the floor, max(1e-8, 100 eps) of the data's dtype: the previous tolerance
        output._LogLossOutput.final_tolerance = lambda self: gradient_floor(self.st.dtype)
    elif previous == "every":
        output.fit_log_loss_readout = lambda *a, **k: readout(*a, refresh="every", **k)
    try:
        clf = ADMMClassifier((300,), random_state=0, backend="serial", **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            clf.fit(X, y)
            t = time.perf_counter() - t
    finally:
        output._LogLossOutput.final_tolerance = default_final
        output.fit_log_loss_readout = readout
    inside = clf.iteration_time_ * clf.n_iter_
    return t, inside, clf.n_iter_, clf.readout_n_iter_


def problems(quick):
    n = 20_000 if quick else 100_000
    for dtype in (np.float64, np.float32):
        X, y = synthetic(n, dtype)
        name = f"synthetic {n // 1000}k {np.dtype(dtype).name}"
        yield name + ", early stopping auto", X, y, {}
        yield name + ", no early stopping", X, y, {"early_stopping": False}
    for name in ("krkopt", "fashion_mnist"):
        X, _, y, _ = data(name, quick)
        yield name, X, y, {}


def main():
    args = parser(__doc__).parse_args()
    maybe_rerun_without_openblas_env(args)
    rows = []
    for name, X, y, params in problems(args.quick):
        # a short fit first: the measured ones then all find the memory the fit's
        # arrays need already in the process (a process's first touch of fresh pages
        # is slow on some machines: 2.4 ms per MiB on the one these tables come from)
        fit(X, y, None, max_iter=1, **params)
        for label, previous in CONFIGS.items():
            t, inside, n_iter, newton = fit(X, y, previous, **params)
            out = t - inside
            print(name, label, round(t, 2), round(out, 2), n_iter, newton, flush=True)
            rows.append(
                [name, label, n_iter, newton, f"{t:.2f}", f"{inside:.2f}", f"{out:.2f}"]
                + [f"{100 * out / t:.0f} %"]
            )
    headers = ["problem", "output layer", "iterations", "Newton steps", "fit s"]
    headers += ["iterations s", "outside s", "outside share"]
    sections = [
        (
            None,
            "default ADMMClassifier((300,)), serial, every other setting default; "
            "target: outside share <= 10 %.",
        ),
        ("Fit time, inside and outside the iterations", table(headers, rows)),
    ]
    report("fit_phases", "Where a default fit's time goes", sections)


if __name__ == "__main__":
    main()
