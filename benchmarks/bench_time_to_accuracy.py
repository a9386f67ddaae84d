"""Time to accuracy: ADMM against scikit-learn's MLP (adam, sgd, lbfgs), same run.

The paper's Figures 1b and 2b on the shared datasets: test accuracy against
wall seconds for ``ADMMClassifier`` (defaults, but ``early_stopping=False``:
no rows held out, the output layer fitted at ``alpha`` to ``tol``; at most
25 iterations in quick mode, 80 in full) and ``MLPClassifier`` with
``adam``, ``sgd`` and ``lbfgs``,
same hidden sizes, same machine, same run; then the time each method needs
to reach each target and the ratio ADMM / best backprop solver.

Test-set evaluations are not counted in the times.  The last point of the
ADMM curve is the fitted model (after the output layer's log-loss fit);
the others are the weights after each iteration, read with their
least-squares output layer.  Features are
standardised (Fashion-MNIST is scaled to [0, 1] as loaded, then
standardised).
"""

import time
import warnings

import numpy as np
from _common import maybe_rerun_without_openblas_env, parser, report, savefig, table
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm._activations import ACTIVATIONS
from skadmm._kernels import forward
from skadmm.datasets import load_dataset

#: dataset -> (hidden sizes, accuracy targets, quick-mode training rows)
SETUPS = {
    "higgs": ((300,), (0.64, 0.66), None),
    "ijcnn1": ((100,), (0.95, 0.97), 20_000),
    "fashion_mnist": ((100,), (0.80, 0.85), 10_000),
}


def admm_curve(X, y, Xt, yt, hidden, iters):
    classes = np.unique(y)
    curve, spent = [], [0.0]

    def record(it, info):
        start = time.perf_counter()
        raw = forward(Xt, info["coefs"], info["intercepts"], ACTIVATIONS["relu"])
        pred = (
            classes[(raw[:, 0] > 0).astype(int)] if raw.shape[1] == 1 else classes[raw.argmax(1)]
        )
        curve.append((info["elapsed"] - spent[0], float(np.mean(pred == yt))))
        spent[0] += time.perf_counter() - start

    clf = ADMMClassifier(
        hidden_layer_sizes=hidden,
        max_iter=iters,
        early_stopping=False,  # the trajectory until the fit's own rules stop it
        random_state=0,
        callback=record,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # the fitted model: after the iterations comes the output layer's log-loss fit
    curve.append((clf.fit_time_ - spent[0], clf.score(Xt, yt)))
    return curve


def mlp_curve(X, y, Xt, yt, hidden, solver, steps):
    per_call = 5 if solver == "lbfgs" else 1
    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        solver=solver,
        max_iter=per_call,
        warm_start=True,
        random_state=0,
        learning_rate_init=0.01 if solver == "sgd" else 0.001,
    )
    curve, elapsed = [], 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(steps):
            start = time.perf_counter()
            clf.fit(X, y)
            elapsed += time.perf_counter() - start
            curve.append((elapsed, clf.score(Xt, yt)))
    return curve


def time_to(curve, target):
    for t, acc in curve:
        if acc >= target:
            return t
    return np.inf


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    iters = 25 if args.quick else 80
    steps = 15 if args.quick else 60
    all_rows, ratio_rows, curves = [], [], {}
    for name, (hidden, targets, quick_rows) in SETUPS.items():
        X, Xt, y, yt = load_dataset(name)
        if hasattr(X, "toarray"):
            X, Xt = X.toarray(), Xt.toarray()
        if args.quick and quick_rows:
            X, y = X[:quick_rows], y[:quick_rows]
        sc = StandardScaler().fit(X)
        X, Xt = sc.transform(X), sc.transform(Xt)
        runs = {"ADMM": admm_curve(X, y, Xt, yt, hidden, iters)}
        for solver in ("adam", "sgd", "lbfgs"):
            runs[f"MLP {solver}"] = mlp_curve(X, y, Xt, yt, hidden, solver, steps)
        curves[name] = (runs, targets)
        for method, curve in runs.items():
            best = max(a for _, a in curve)
            all_rows.append(
                (name, method, best, curve[-1][0], *[time_to(curve, t) for t in targets])
            )
        for target in targets:
            admm_t = time_to(runs["ADMM"], target)
            bp = min(time_to(runs[m], target) for m in runs if m != "ADMM")
            ratio = admm_t / bp if np.isfinite(bp) and np.isfinite(admm_t) else np.inf
            ratio_rows.append((name, target, admm_t, bp, ratio))
    sections = [
        (
            None,
            f"{'quick' if args.quick else 'full'} mode; ADMM {iters} iterations, MLP "
            f"{steps} calls (1 epoch each; lbfgs 5 iterations each); inf = not reached.",
        ),
        (
            "Best test accuracy and time to the targets",
            table(
                [
                    "dataset",
                    "method",
                    "best test acc",
                    "total s",
                    "s to target 1",
                    "s to target 2",
                ],
                all_rows,
            ),
        ),
        (
            "Ratio ADMM / best backprop solver (time to target)",
            table(["dataset", "target", "ADMM s", "best backprop s", "ratio"], ratio_rows),
        ),
    ]
    report("time_to_accuracy", "Time to accuracy: ADMM against backprop", sections)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4))
    for ax, (name, (runs, targets)) in zip(axes, curves.items()):
        for method, curve in runs.items():
            t, a = np.array(curve).T
            ax.plot(t, a, ".-", label=method)
        for tg in targets:
            ax.axhline(tg, color="gray", linestyle=":")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("wall seconds")
        ax.set_ylabel("test accuracy")
    axes[0].legend()
    savefig(fig, "time_to_accuracy")


if __name__ == "__main__":
    main()
