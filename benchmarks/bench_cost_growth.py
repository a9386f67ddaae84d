"""Cost growth: time per iteration against N and against hidden width, fitted exponents.

*Synthetic* HIGGS-shaped data (28 features, binary), one hidden ReLU layer,
``backend="serial"`` (one core), float64.  The iteration's work is linear
in N (per-sample updates and per-sample contributions to the sums) and,
for a hidden width n much larger than the 28 inputs, quadratic in n (the
Gram matrix of the hidden activations, ``N n^2``); the fitted log-log
slopes say how close the measured cost is to that.

Measures the default ``solver="admm"`` (``search_tol=None``, ``tol=0``:
iteration cost, not stopping); its relaxation search adds the Gram matrix
of the hidden features of each of its two candidates, so it keeps the
``N n^2`` term, twice.  ``solver="paper"`` is a labelled reference column.
"""

import numpy as np
from _common import (
    iteration_cost_fit,
    maybe_rerun_without_openblas_env,
    parser,
    report,
    savefig,
    table,
)

D = 28


def per_iteration(n, width, iters, solver="admm"):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    return iteration_cost_fit(X, y, (width,), iters, solver, backend="serial").iteration_time_


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    ns = [10_000, 40_000, 160_000] if args.quick else [10_000, 40_000, 160_000, 640_000]
    widths = [50, 100, 200, 400] if args.quick else [50, 100, 200, 400, 800, 1600]
    iters = 3
    per_iteration(5_000, 50, 2)  # warm-up
    by_n = [(n, per_iteration(n, 300, iters)) for n in ns]
    by_w = [(w, per_iteration(40_000, w, iters)) for w in widths]
    paper_n = [per_iteration(n, 300, iters, "paper") for n in ns]
    paper_w = [per_iteration(40_000, w, iters, "paper") for w in widths]
    slope_n = np.polyfit(*np.log(np.array(by_n)).T, 1)[0]
    slope_w = np.polyfit(*np.log(np.array(by_w[len(by_w) // 2 :])).T, 1)[0]
    n_rows = [(n, t, t / n * 1e6, p, t / p) for (n, t), p in zip(by_n, paper_n)]
    w_rows = [(w, t, p, t / p) for (w, t), p in zip(by_w, paper_w)]
    sections = [
        (
            "Against N (hidden width 300)",
            table(
                ["N", "admm (default) s / iteration", "us / row", "paper s / iteration", "ratio"],
                n_rows,
            ),
        ),
        (
            "Against hidden width (N = 40,000)",
            table(
                ["width", "admm (default) s / iteration", "paper s / iteration", "ratio"], w_rows
            ),
        ),
        (
            "Fitted exponents (the default)",
            f"- time ~ N^{slope_n:.2f} (expected 1)\n"
            f"- time ~ width^{slope_w:.2f} over the wider half (expected -> 2 as the "
            "N n^2 Gram matrices dominate)",
        ),
    ]
    report("cost_growth", "Cost growth of the default solver with N and width", sections)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.loglog(*np.array(by_n).T, "o-", label="admm (default)")
    a1.loglog(ns, paper_n, "^--", label="paper")
    a1.legend()
    a1.set_xlabel("rows N")
    a1.set_ylabel("s / iteration")
    a1.set_title(f"slope {slope_n:.2f}")
    a2.loglog(*np.array(by_w).T, "o-", label="admm (default)")
    a2.loglog(widths, paper_w, "^--", label="paper")
    a2.set_xlabel("hidden width")
    a2.set_title(f"slope {slope_w:.2f} (wider half)")
    savefig(fig, "cost_growth")


if __name__ == "__main__":
    main()
