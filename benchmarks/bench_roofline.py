"""Roofline: an ADMM iteration against the BLAS time of its own matrix products.

For a HIGGS-shaped synthetic problem (28 features, one hidden layer of 300
ReLU units, binary; labelled *synthetic*) at growing N, in float64 and
float32, in one run:

* the wall time of one ADMM iteration (``ADMMClassifier`` with
  ``backend="joblib", n_jobs=-1``, mean over the iterations of a fit);
* the time of the same iteration's dense linear algebra alone: every matrix
  product (Gram matrices, cross products, the layer maps, the activation
  update's products, the forward pass for the training loss) on the same
  cache-sized blocks and the same threads, plus the small solves;
* the achieved GFLOP/s of the iteration against this machine's GEMM peak
  (a 4000 x 4000 product, all cores, timed in the same run);
* one epoch of scikit-learn's ``MLPClassifier`` (adam) on the same data.

Targets (issue 5): iteration / linear algebra <= 1.3; float32 >= 1.7x
faster than float64 at the largest N.

Measures the ADMM iteration itself: ``solver="plain"`` (the default of the
first release, which the model above describes).  The default
``solver="admm"`` adds the relaxation search per hidden layer (a few more
Gram matrices of the hidden features, one more small reduction); its wall
time against MLP is in ``bench_accuracy.py``.
"""

import time
import warnings

import numpy as np
from _common import gemm_peak, maybe_rerun_without_openblas_env, parser, report, savefig, table
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from skadmm import ADMMClassifier
from skadmm import _kernels as K
from skadmm.backends import block_rows_for, blocks_for, get_backend

HIDDEN = 300
D = 28


def synthetic(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(dtype)
    w = rng.standard_normal(D)
    y = ((X @ w) + 0.5 * np.sin(3 * X[:, 0]) + rng.standard_normal(n) > 0).astype(int)
    return X, y


def flops_per_iteration(n, sizes):
    """Multiply-adds x 2 of one iteration (Gram counted as a full GEMM)."""
    f = 0
    for i, (d, k) in enumerate(zip(sizes[:-1], sizes[1:])):
        f += 2 * n * (d + 1) ** 2  # Gram
        f += 2 * n * (d + 1) * k  # cross product
        f += 2 * n * d * k  # layer map m = a W
        f += 2 * n * d * k  # forward pass (training loss)
        if i < len(sizes) - 2:
            k2 = sizes[i + 2]
            f += 4 * n * k * k2  # activation update (h W, r Q)
    return f


def linear_algebra_only(X, sizes, backend, repeats):
    """Seconds of one iteration's products alone, same blocks, same threads."""
    n, dtype = X.shape[0], X.dtype
    rng = np.random.default_rng(1)
    W = [rng.standard_normal((d, k)).astype(dtype) * 0.1 for d, k in zip(sizes[:-1], sizes[1:])]
    c = [np.zeros(k, dtype) for k in sizes[1:]]
    acts = [X] + [rng.standard_normal((n, k)).astype(dtype) for k in sizes[1:-1]]
    zs = [rng.standard_normal((n, k)).astype(dtype) for k in sizes[1:]]
    rows = block_rows_for(sizes, np.dtype(dtype).itemsize)
    blocks = [s for _, s in blocks_for(0, n, rows)]
    L = len(W)

    def run():
        for i in range(L):
            shapes = [(sizes[i] + 1, sizes[i] + 1), (sizes[i] + 1, sizes[i + 1])]
            gram, cross = backend.reduce_blocks(
                lambda b, i=i: K.weight_statistics(acts[i][blocks[b]], zs[i][blocks[b]]),
                range(len(blocks)),
                shapes,
            )
            K.weight_update(gram, cross, 1e-4, 1.0, dtype=dtype)
            if i < L - 1:
                op = K.activation_operator(W[i + 1], 1.0, 10.0, dtype=dtype)

                def hidden(b, i=i, op=op):
                    r = blocks[b]
                    K.activation_update(
                        zs[i + 1][r], W[i + 1], c[i + 1], acts[i + 1][r], 1, 10, op
                    )
                    K.linear(acts[i][r], W[i], c[i])

                backend.map_blocks(hidden, range(len(blocks)))
            else:
                backend.map_blocks(
                    lambda b, i=i: K.linear(acts[i][blocks[b]], W[i], c[i]), range(len(blocks))
                )

        def fwd(b):
            a = X[blocks[b]]
            for i in range(L):
                a = a @ W[i]

        backend.map_blocks(fwd, range(len(blocks)))

    run()
    t = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - t) / repeats


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    sizes_n = [20_000, 100_000] if args.quick else [20_000, 100_000, 400_000, 1_000_000]
    iters = 4 if args.quick else 6
    peaks = {np.float64: gemm_peak(np.float64), np.float32: gemm_peak(np.float32)}
    rows, curves = [], {}
    for dtype in (np.float64, np.float32):
        for n in sizes_n:
            X, y = synthetic(n, dtype)
            sizes = [D, HIDDEN, 1]
            clf = ADMMClassifier(
                hidden_layer_sizes=(HIDDEN,),
                solver="plain",
                max_iter=iters,
                tol=0,
                early_stopping=False,  # iteration cost, not stopping
                random_state=0,
                backend="joblib",
                n_jobs=-1,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            it_time = clf.iteration_time_
            backend = get_backend("joblib", n_jobs=-1)
            with backend:
                la = linear_algebra_only(X, sizes, backend, repeats=2)
            mlp = MLPClassifier(hidden_layer_sizes=(HIDDEN,), max_iter=1, random_state=0)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.fit(X, y)
            epoch = time.perf_counter() - t
            gflops = flops_per_iteration(n, sizes) / it_time / 1e9
            name = np.dtype(dtype).name
            rows.append(
                (
                    name,
                    n,
                    it_time,
                    la,
                    it_time / la,
                    gflops,
                    gflops / peaks[dtype],
                    epoch,
                    it_time / epoch,
                )
            )
            curves.setdefault(name, []).append((n, it_time, la))
    f64 = {r[1]: r[2] for r in rows if r[0] == "float64"}
    f32 = {r[1]: r[2] for r in rows if r[0] == "float32"}
    speed = [(n, f64[n] / f32[n]) for n in sizes_n]
    ratio_max = max(r[4] for r in rows)
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
            table(
                [
                    "dtype",
                    "N",
                    "iteration s",
                    "linear algebra s",
                    "iteration / LA",
                    "GFLOP/s",
                    "fraction of peak",
                    "MLP epoch s",
                    "iteration / MLP epoch",
                ],
                rows,
            ),
        ),
        ("float32 speed-up", table(["N", "float64 / float32 time"], speed)),
        (
            "Targets",
            f"- iteration / linear algebra <= 1.3: worst {ratio_max:.2f} "
            f"({'met' if ratio_max <= 1.3 else 'NOT met'})\n"
            f"- float32 >= 1.7x faster at N={sizes_n[-1]}: {speed[-1][1]:.2f}x "
            f"({'met' if speed[-1][1] >= 1.7 else 'NOT met'})",
        ),
    ]
    report("roofline", "Roofline: iteration against its own linear algebra", sections)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in curves.items():
        n, it, la = np.array(pts).T
        ax.loglog(n, it, "o-", label=f"iteration ({name})")
        ax.loglog(n, la, "s--", label=f"linear algebra only ({name})")
    ax.set_xlabel("rows N (synthetic, HIGGS shape)")
    ax.set_ylabel("seconds per iteration")
    ax.legend()
    savefig(fig, "roofline")


if __name__ == "__main__":
    main()
