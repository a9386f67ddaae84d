"""``python -m skadmm``: the main job on the embedded HIGGS sample.

Fits ADMMClassifier and scikit-learn's MLPClassifier (same 300 hidden ReLU
units, the paper's HIGGS network) on a fixed 80/20 split of the embedded
sample and prints test accuracy and fit time side by side.
"""

import argparse
import platform
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from . import ADMMClassifier, __version__
from .datasets import load_higgs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skadmm", description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=300, help="hidden units (default 300)")
    parser.add_argument("--backend", default="joblib", help="joblib (default), serial or mpi")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads for backend=joblib")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = load_higgs(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=args.seed, stratify=y
    )
    # Standardise with the moments of the whole training set (under MPI a
    # StandardScaler inside the Pipeline would see only its rank's rows).
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    rank, size = 0, 1
    if args.backend == "mpi":  # SPMD: every rank keeps only its own rows
        from mpi4py import MPI

        from .backends import partition

        rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
        mine = partition(len(y_train), size, rank)
        X_train, y_train = X_train[mine], y_train[mine]
        mine = partition(len(y_test), size, rank)
        X_test, y_test = X_test[mine], y_test[mine]
    blas = ", ".join(
        f"{i['internal_api']} {i.get('architecture', '')} x{i['num_threads']}"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )
    if args.backend == "joblib":
        from .backends._joblib import resolve_n_jobs

        threads = resolve_n_jobs(args.n_jobs)
        where = f" ({threads} thread{'s' if threads > 1 else ''})"
    else:
        where = f" on {size} ranks" if size > 1 else ""
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"skadmm {__version__} on Python {platform.python_version()}; BLAS: {blas}")
    say(
        f"HIGGS sample (embedded): {len(y) - len(y) // 5} train / {len(y) // 5} test rows, "
        f"{X.shape[1]} features; one hidden layer of {args.hidden} ReLU units; "
        f"backend={args.backend}{where}\n"
    )
    if args.backend == "mpi":  # the MLP has no distributed fit
        say("(under MPI the MLPClassifier is fitted on rank 0's rows only)\n")
    models = {
        "ADMMClassifier": ADMMClassifier(
            hidden_layer_sizes=(args.hidden,),
            backend=args.backend,
            n_jobs=args.n_jobs,
            random_state=args.seed,
        ),
        "MLPClassifier (adam)": MLPClassifier(
            hidden_layer_sizes=(args.hidden,), early_stopping=True, random_state=args.seed
        ),
    }
    rows = []
    for name, model in models.items():
        if name.startswith("MLP") and rank != 0:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append((name, model.score(X_test, y_test), seconds, model.n_iter_))
    if rank != 0:
        return 0
    print(f"| {'model':<22} | test accuracy | fit seconds | iterations |")
    print(f"|{'-' * 24}|---------------|-------------|------------|")
    for name, acc, sec, it in rows:
        print(f"| {name:<22} | {acc:13.4f} | {sec:11.2f} | {it:10d} |")
    admm, mlp = rows
    print(f"\nADMM / MLP: accuracy {admm[1] - mlp[1]:+.4f}, time ratio {admm[2] / mlp[2]:.2f}x")
    return 0 if np.isfinite(admm[1]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
