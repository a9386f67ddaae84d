"""
Fit on a cluster: each MPI rank reads only its own rows of HIGGS
================================================================

SPMD, as scikit-learn-intelex does it: every rank runs this same script,
reads only its own rows of the HIGGS csv (the rows
:func:`skadmm.backends.partition` gives it), and calls ``fit`` with them.
Only the small per-layer sums ``[a 1]^T [a 1]`` and ``[a 1]^T z`` cross the
network; afterwards every rank holds the same model, and ``score`` reduces
its counts over all ranks.

Run it with 4 ranks on one machine::

    mpiexec -n 4 python -m mpi4py examples/mpi_higgs.py

or under Slurm, one rank per core on two nodes::

    srun --nodes=2 --ntasks-per-node=32 python -m mpi4py examples/mpi_higgs.py

``python -m mpi4py`` makes an exception on one rank abort every rank instead
of leaving the others waiting.  Pass ``--data PATH`` for another HIGGS csv
(``label,f1..f28`` per line, gzip or plain), e.g. the full 11M-row file.
"""

import argparse
import time
import warnings

import numpy as np
from mpi4py import MPI
from sklearn.exceptions import ConvergenceWarning

from skadmm import ADMMClassifier
from skadmm.backends import partition
from skadmm.datasets import data_home, read_higgs_rows


def count_rows(path):
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return sum(1 for _ in f) - 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", default=None, help="HIGGS csv(.gz); default: the shared sample")
    parser.add_argument("--hidden", type=int, default=300)
    parser.add_argument("--max-iter", type=int, default=30)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    path = args.data or data_home() / "higgs" / "higgs_train.csv.gz"

    n = comm.bcast(count_rows(path) if rank == 0 else None)
    n_test = n // 5  # the last fifth of the file is the test set
    train = partition(n - n_test, size, rank)
    test = partition(n_test, size, rank)
    X, y = read_higgs_rows(path, train)
    X_test, y_test = read_higgs_rows(path, slice(n - n_test + test.start, n - n_test + test.stop))

    # standardise with global moments (two small allreduces)
    stats = comm.allreduce(np.vstack([X.sum(0), (X * X).sum(0), np.full(28, len(X))]))
    mean = stats[0] / stats[2]
    std = np.sqrt(np.maximum(stats[1] / stats[2] - mean**2, 1e-12))
    X, X_test = (X - mean) / std, (X_test - mean) / std

    clf = ADMMClassifier(
        hidden_layer_sizes=(args.hidden,), max_iter=args.max_iter, backend="mpi", random_state=0
    )
    comm.Barrier()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)  # collective: every rank calls it
    same = comm.allgather(float(np.sum(clf.coefs_[0])))
    if rank == 0:
        print(
            f"{size} rank(s), {n - n_test} training rows ({len(y)} on rank 0): "
            f"{clf.n_iter_} iterations in {seconds:.2f} s, test accuracy {accuracy:.4f}"
        )
        print("identical model on every rank:", all(v == same[0] for v in same))


if __name__ == "__main__":
    main()
