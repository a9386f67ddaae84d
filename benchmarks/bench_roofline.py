"""Roofline: an iteration of the default solver against the BLAS time of its matrix products.

For a HIGGS-shaped synthetic problem (28 features, one hidden layer of 300
ReLU units, binary; labelled *synthetic*) at growing N, in float64 and
float32, in one run, on the same cache-sized blocks and threads
(``backend="joblib", n_jobs=-1``):

* the wall time of one iteration of the default ``solver="admm"`` (mean
  over the iterations of a fit with ``tol=0``, no early stopping, no
  search rule: iteration cost, not stopping), and of ``solver="paper"``
  (exact Algorithm 1), labelled as the reference;
* the BLAS time of the products Algorithm 1 needs per iteration
  (:func:`algorithm1_products`): ``z_1 a_0^T`` and ``W_1 a_0`` (h x d x N
  each), ``a_1 a_1^T`` (h x h x N), ``W_2 a_1`` and ``W_2^T z_2`` (h x N);
* the BLAS time of the default's own products (:func:`default_products`):
  the same layer maps and cross products, the activation update's two
  products, and the relaxation search's Gram matrix and cross product of
  the hidden features for each of its two candidates (the exact output-layer
  refit that judges a candidate needs them: two h x h x N products where
  Algorithm 1 has one);
* one epoch of scikit-learn's ``MLPClassifier`` (adam) on the same data.

Targets (issue 17): an iteration of the default <= 1.3 x the BLAS time of
the Algorithm 1 products (and, since the search needs more products, its
ratio to its own products too); float32 >= 1.7x faster than float64 at
N >= 100,000.
"""

import time
import warnings

import numpy as np
from _common import (
    gemm_peak,
    iteration_cost_fit,
    maybe_rerun_without_openblas_env,
    parser,
    report,
    savefig,
    table,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from skadmm.backends import block_rows_for, blocks_for, get_backend

HIDDEN = 300
D = 28


def synthetic(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(dtype)
    w = rng.standard_normal(D)
    y = ((X @ w) + 0.5 * np.sin(3 * X[:, 0]) + rng.standard_normal(n) > 0).astype(int)
    return X, y


def _operands(n, dtype, h=HIDDEN, k=1):
    rng = np.random.default_rng(1)
    ops = {
        "W1": rng.standard_normal((D, h)).astype(dtype) * 0.1,
        "W2": rng.standard_normal((h, k)).astype(dtype) * 0.1,
        "Q": rng.standard_normal((k, h)).astype(dtype) * 0.1,
        "Y": rng.standard_normal((n, k)).astype(dtype),
    }
    ops["A1"] = rng.standard_normal((n, h)).astype(dtype)
    ops["Z1"] = rng.standard_normal((n, h)).astype(dtype)
    ops["Z2"] = rng.standard_normal((n, k)).astype(dtype)
    return ops


def _timed(X, backend, products, repeats):
    """Seconds of ``products(rows)`` over every block, on the backend's threads."""
    rows = block_rows_for([D, HIDDEN, 1], X.dtype.itemsize)
    blocks = [s for _, s in blocks_for(0, X.shape[0], rows)]

    def run():
        backend.map_blocks(lambda b: products(blocks[b]), range(len(blocks)))

    run()
    t = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - t) / repeats


def algorithm1_products(X, backend, repeats=2):
    """BLAS seconds of Algorithm 1's products of one iteration (the issue's list)."""
    o = _operands(X.shape[0], X.dtype)

    def products(r):
        X[r].T @ o["Z1"][r]  # z_1 a_0^T
        X[r] @ o["W1"]  # W_1 a_0
        a = o["A1"][r]
        a.T @ a  # a_1 a_1^T (syrk)
        a @ o["W2"]  # W_2 a_1
        o["Z2"][r] @ o["W2"].T  # W_2^T z_2

    return _timed(X, backend, products, repeats)


def default_products(X, backend, repeats=2):
    """BLAS seconds of the default solver's products of one iteration (one hidden layer).

    The targets: ``a_1 W_2`` (the output update), the activation update's
    ``h W_2`` and ``r Q`` (its Woodbury form), the step's cross product
    ``[X 1]^T (z_1 - m_1)``; the search: the step's move ``X dW`` and, for
    each of the two candidates, the Gram matrix ``[F 1]^T [F 1]`` and cross
    product ``[F 1]^T Y`` of its hidden features.
    """
    o = _operands(X.shape[0], X.dtype)

    def products(r):
        a, x = o["A1"][r], X[r]
        a @ o["W2"]  # output update's m_2
        a @ o["W2"]  # eq. (6): h W_2
        o["Z2"][r] @ o["Q"]  # eq. (6): r Q
        x.T @ o["Z1"][r]  # the step's cross product
        x @ o["W1"]  # the move of the candidates
        for _ in range(2):  # two candidates: Gram (syrk) and cross product each
            a.T @ a
            a.T @ o["Y"][r]

    return _timed(X, backend, products, repeats)


def iteration_time(X, y, solver, iters):
    clf = iteration_cost_fit(X, y, (HIDDEN,), iters, solver, backend="joblib", n_jobs=-1)
    return clf.iteration_time_


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    sizes_n = [20_000, 100_000] if args.quick else [20_000, 100_000, 1_000_000]
    iters = 4 if args.quick else 6
    peaks = {np.float64: gemm_peak(np.float64), np.float32: gemm_peak(np.float32)}
    rows, times, curves = [], {}, {}
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        for n in sizes_n:
            X, y = synthetic(n, dtype)
            with get_backend("joblib", n_jobs=-1) as backend:
                alg1 = algorithm1_products(X, backend)
                own = default_products(X, backend)
            mlp = MLPClassifier(hidden_layer_sizes=(HIDDEN,), max_iter=1, random_state=0)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.fit(X, y)
            epoch = time.perf_counter() - t
            for solver in ("admm", "paper"):
                it = iteration_time(X, y, solver, iters)
                times[name, n, solver] = it
                label = "admm (default)" if solver == "admm" else "paper (reference)"
                mine = own if solver == "admm" else alg1
                rows.append((name, n, label, it, alg1, it / alg1, mine, it / mine, epoch))
                curves.setdefault((name, solver), []).append((n, it))
            curves.setdefault((name, "alg1"), []).append((n, alg1))
    big = [n for n in sizes_n if n >= 100_000]
    speed = [
        (n, s, times["float64", n, s] / times["float32", n, s])
        for s in ("admm", "paper")
        for n in big
    ]
    default = [r for r in rows if r[2].startswith("admm")]
    worst_alg1 = max(r[5] for r in default if r[1] >= 100_000)
    worst_own = max(r[7] for r in default if r[1] >= 100_000)
    least_speed = min(v for n, s, v in speed if s == "admm")
    sections = [
        (
            "GEMM peak (4000 x 4000, all cores, this run)",
            table(
                ["dtype", "GFLOP/s"],
                [("float64", peaks[np.float64]), ("float32", peaks[np.float32])],
            ),
        ),
        (
            "Per iteration, HIGGS-shaped synthetic data (28-300-1, joblib on all cores)",
            "`own products` are the products the solver itself runs per iteration: for the "
            "default, Algorithm 1's plus the relaxation search's Gram matrix and cross "
            "product of the hidden features for each of its two candidates; for the paper "
            "solver, Algorithm 1's.\n\n"
            + table(
                [
                    "dtype",
                    "N",
                    "solver",
                    "iteration s",
                    "Alg. 1 products s",
                    "iteration / Alg. 1",
                    "own products s",
                    "iteration / own",
                    "MLP epoch s",
                ],
                rows,
            ),
        ),
        (
            "float32 speed-up",
            table(["N", "solver", "float64 / float32 iteration time"], speed),
        ),
        (
            "Targets (the default, N >= 100,000)",
            f"- iteration / Algorithm 1 products <= 1.3: worst {worst_alg1:.2f} "
            f"({'met' if worst_alg1 <= 1.3 else 'NOT met'})\n"
            f"- iteration / own products <= 1.3: worst {worst_own:.2f} "
            f"({'met' if worst_own <= 1.3 else 'NOT met'})\n"
            f"- float32 >= 1.7x faster than float64: least {least_speed:.2f}x "
            f"({'met' if least_speed >= 1.7 else 'NOT met'})",
        ),
    ]
    report("roofline", "Roofline: the default's iteration against its linear algebra", sections)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"admm": "o-", "paper": "^-", "alg1": "s--"}
    labels = {"admm": "admm (default)", "paper": "paper", "alg1": "Alg. 1 products (BLAS)"}
    for (name, kind), pts in curves.items():
        n, t = np.array(pts).T
        ax.loglog(n, t, styles[kind], label=f"{labels[kind]}, {name}")
    ax.set_xlabel("rows N (synthetic, HIGGS shape)")
    ax.set_ylabel("seconds per iteration")
    ax.legend(fontsize=7)
    savefig(fig, "roofline")


if __name__ == "__main__":
    main()
