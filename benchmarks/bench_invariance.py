"""Partition invariance: the same model on any backend and partition (issue 18).

Fits every solver with 1 and 2 hidden layers on serial, joblib (1 to 4 jobs)
and MPI (run this script under ``mpiexec -n K``) and prints, per partition,
the largest difference of any coefficient from the serial fit's, relative to
the largest serial coefficient of that layer::

    python benchmarks/bench_invariance.py --out /tmp/inv            # serial, joblib
    for k in 1 2 3; do
        mpiexec -n $k python -m mpi4py benchmarks/bench_invariance.py --out /tmp/inv --mpi
    done
    python benchmarks/bench_invariance.py --out /tmp/inv --table

Synthetic data: ``--rows`` rows of 10 standard normal features, a nonlinear
binary target (the regressor: its score); ``max_iter=--iters``, ``tol=0``,
``early_stopping=False`` (the validation split is per rank under MPI).
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skadmm import ADMMClassifier
from skadmm.backends import block_rows_for, partition

SOLVERS = ("admm", "plain", "paper")
DEPTHS = {"1 hidden": (64,), "2 hidden": (64, 64)}


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 10))
    y = np.sin(X[:, 0] * 2) + X[:, 1] * X[:, 2] + 0.3 * rng.standard_normal(n) > 0
    return X, y.astype(int)


def fit(X, y, solver, hidden, iters, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=hidden,
            solver=solver,
            max_iter=iters,
            tol=0,
            early_stopping=False,
            random_state=0,
            **kw,
        ).fit(X, y)
    return np.concatenate([w.ravel() for w in clf.coefs_ + clf.intercepts_]), [
        w.copy() for w in clf.coefs_ + clf.intercepts_
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--mpi", action="store_true")
    p.add_argument("--table", action="store_true")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table:
        return table(args)
    X, y = data(args.rows)
    rank, size = 0, 1
    if args.mpi:
        from mpi4py import MPI

        rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    for solver in SOLVERS:
        for depth, hidden in DEPTHS.items():
            if args.mpi:
                rows = partition(len(y), size, rank)
                _, ws = fit(X[rows], y[rows], solver, hidden, args.iters, backend="mpi")
                runs = {f"mpi {size}": ws}
            else:
                runs = {"serial": fit(X, y, solver, hidden, args.iters)[1]}
                for n_jobs in (1, 2, 3, 4):
                    runs[f"joblib {n_jobs}"] = fit(
                        X, y, solver, hidden, args.iters, backend="joblib", n_jobs=n_jobs
                    )[1]
            if rank == 0:
                for name, ws in runs.items():
                    np.savez(
                        args.out / f"{solver}_{depth}_{name}.npz".replace(" ", "-"),
                        *ws,
                    )
    if rank == 0:
        n_blocks = -(-args.rows // block_rows_for([10, 64, 1], 8))
        print(f"saved to {args.out}: {args.rows} rows, {n_blocks} blocks, {args.iters} iterations")


def table(args):
    parts = ["joblib 1", "joblib 2", "joblib 3", "joblib 4", "mpi 1", "mpi 2", "mpi 3"]
    print("| solver | depth | " + " | ".join(parts) + " |")
    print("|---|---|" + "---|" * len(parts))
    for solver in SOLVERS:
        for depth in DEPTHS:

            def load(name):
                path = args.out / f"{solver}_{depth}_{name}.npz".replace(" ", "-")
                if not path.exists():
                    return None
                with np.load(path) as f:
                    return [f[k] for k in f.files]

            gold = load("serial")
            cells = []
            for name in parts:
                ws = load(name)
                if ws is None or gold is None:
                    cells.append("n/a")
                    continue
                rel = max(
                    float(np.max(np.abs(w - g)) / max(np.max(np.abs(g)), 1e-300))
                    for w, g in zip(ws, gold)
                )
                cells.append("0 (bitwise)" if rel == 0 else f"{rel:.1e}")
            print(f"| {solver} | {depth} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
