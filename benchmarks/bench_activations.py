"""Smooth activations (issue 20): the eq. (7) step's cost and accuracy, and fits with them.

Part 1 times the pre-activation step (paper eq. (7),
:func:`skadmm._kernels.preactivation_update`) on ``10^6`` entries for
``relu`` (closed form), ``tanh`` and ``logistic`` (global minimiser by basin
split and safeguarded Newton), float64 and float32 side by side in one run,
as ns per entry and as ratios to ``relu``; the inputs are ``a ~ N(0, 1)``,
``m ~ N(0, 2^2)`` at the default ``gamma = 10``, ``beta = 1``.  It also
checks the smooth step on 300 entries with ``gamma / beta`` from 1e-3 to
1e3 against a brute-force minimum (dense grid over the provable bracket
``|z - m| <= (gamma / beta) max|h'| (|a| + max|h|)``, then bounded Brent).

Part 2 fits the default ``ADMMClassifier`` / ``ADMMRegressor`` and
``MLPClassifier`` / ``MLPRegressor(early_stopping=True)`` with each of the
three activations on every shared dataset (hidden (100,), standardised
inputs): test score (accuracy, R^2 for California housing) and fit seconds.
Full mode: seeds 0, 1, 2 and all training rows; ``--quick``: seed 0 and the
training rows capped at 3000.
"""

import time
import warnings

import numpy as np
import scipy.optimize
from _common import maybe_rerun_without_openblas_env, parser, report, table
from bench_accuracy import prepare
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm import _kernels as K
from skadmm._activations import ACTIVATIONS
from skadmm.datasets import DATASETS

NAMES = ("relu", "tanh", "logistic")


def time_step(name, dtype, n=10**6, repeats=3, gamma=10.0, beta=1.0):
    """Best-of-``repeats`` seconds of one eq. (7) step on ``n`` entries."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n // 1000, 1000)).astype(dtype)
    m = (2.0 * rng.standard_normal((n // 1000, 1000))).astype(dtype)
    h = ACTIVATIONS[name]
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        K.preactivation_update(a, m, h, beta, gamma)
        best = min(best, time.perf_counter() - t)
    return best / a.size


def worst_objective_gap(name, n=300, seed=0):
    """Max over random entries of (F(z) - F_ref) / (1 + F_ref), F_ref by brute force."""
    rng = np.random.default_rng(seed)
    h = ACTIVATIONS[name]
    slope = 1.0 if name == "tanh" else 0.25
    worst = -np.inf
    for _ in range(n):
        a, m = rng.uniform(-3, 3), rng.normal(0, 5)
        beta, gamma = 10.0 ** rng.uniform(-1.5, 1.5), 10.0 ** rng.uniform(-1.5, 1.5)

        def F(z, a=a, m=m, beta=beta, gamma=gamma):
            return gamma * (a - h(np.asarray(z, dtype=float))) ** 2 + beta * (z - m) ** 2

        z = K.preactivation_update(np.array([a]), np.array([m]), h, beta, gamma)[0]
        R = gamma / beta * slope * (abs(a) + 1.0) + 1e-9
        grid = np.linspace(m - R, m + R, 100_001)
        f = F(grid)
        i = int(np.argmin(f))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = scipy.optimize.minimize_scalar(
            F, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
        )
        ref = min(float(F(res.x)), float(f[i]))
        worst = max(worst, (float(F(z)) - ref) / (1.0 + ref))
    return worst


def kernel_section():
    rows = []
    for dtype in (np.float64, np.float32):
        per = {name: time_step(name, dtype) for name in NAMES}
        for name in NAMES:
            ns, ratio = f"{per[name] * 1e9:.1f}", f"{per[name] / per['relu']:.0f}"
            rows.append((np.dtype(dtype).name, name, ns, ratio))
            print(f"step {rows[-1][0]} {name}: {per[name] * 1e9:.1f} ns/entry", flush=True)
    acc = [(name, f"{worst_objective_gap(name):.1e}") for name in NAMES[1:]]
    return rows, acc


def fit_score(model, X, y, Xt, yt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        model.fit(X, y)
        t = time.perf_counter() - t
    return model.score(Xt, yt), t


def fit_section(rows_cap, seeds):
    rows = []
    for name in DATASETS:
        X, Xt, y, yt, reg = prepare(name, rows_cap)
        Est = ADMMRegressor if reg else ADMMClassifier
        Mlp = MLPRegressor if reg else MLPClassifier
        admm_relu_t = None
        for act in NAMES:
            res = {"ADMM": ([], []), "MLP": ([], [])}
            for seed in seeds:
                for label, model in (
                    ("ADMM", Est(activation=act, random_state=seed)),
                    ("MLP", Mlp(activation=act, early_stopping=True, random_state=seed)),
                ):
                    s, t = fit_score(model, X, y, Xt, yt)
                    res[label][0].append(s)
                    res[label][1].append(t)
                    print(f"{name} {act} seed {seed} {label}: {s:.4f} in {t:.2f} s", flush=True)
            a_s, a_t = np.mean(res["ADMM"][0]), np.mean(res["ADMM"][1])
            m_s, m_t = np.mean(res["MLP"][0]), np.mean(res["MLP"][1])
            if act == "relu":
                admm_relu_t = a_t
            rows.append(
                (
                    name,
                    len(X),
                    act,
                    f"{a_s:.4f}",
                    f"{a_t:.2f}",
                    f"{a_t / admm_relu_t:.2f}",
                    f"{m_s:.4f}",
                    f"{m_t:.2f}",
                    f"{a_s - m_s:+.4f}",
                    f"{a_t / m_t:.2f}",
                )
            )
    return rows


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    rows_cap = 3000 if args.quick else None
    seeds = [0] if args.quick else [0, 1, 2]
    step_rows, acc_rows = kernel_section()
    fit_rows = fit_section(rows_cap, seeds)
    mode = (
        "quick mode (seed 0, training rows capped at 3000; fits of a few seconds at "
        "most, so their times are noisy and the ratios more reliable)"
        if args.quick
        else "full mode (seeds 0, 1, 2, all training rows)"
    )
    sections = [
        (
            None,
            f"{mode}.  Reproduce: `cd benchmarks && python bench_activations.py"
            f"{' --quick' if args.quick else ''}`.",
        ),
        (
            "Eq. (7) step per entry (10^6 entries, gamma = 10, beta = 1)",
            table(["dtype", "activation", "ns / entry", "x relu"], step_rows),
        ),
        (
            "Eq. (7) accuracy: worst (F(z) - F_ref) / (1 + F_ref) over 300 random entries, "
            "gamma / beta in [1e-3, 1e3] (negative: the kernel beat the brute force)",
            table(["activation", "worst gap"], acc_rows),
        ),
        (
            "Default ADMM against MLP (early stopping), hidden (100,), per activation",
            table(
                [
                    "dataset",
                    "train rows",
                    "activation",
                    "ADMM score",
                    "ADMM s",
                    "ADMM s / relu's",
                    "MLP score",
                    "MLP s",
                    "gap",
                    "time ratio",
                ],
                fit_rows,
            ),
        ),
    ]
    report("activations", "Smooth activations: tanh and logistic against relu", sections)


if __name__ == "__main__":
    main()
