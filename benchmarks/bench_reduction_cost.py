"""What the reproducible (exact) reductions cost per iteration (issue 18).

Fits the default solver on ``--rows`` synthetic rows of 28 features with one
hidden layer of 300 units (the HIGGS network), alternately with the exact
sums (:class:`skadmm.backends._exact.ExactSum`, the default) and with the
float64 sums in arrival order they replaced, ``--repeats`` times each, in one
process, and prints the median seconds per iteration of each, in wall time
and in CPU time (``time.process_time``: steadier on a shared machine), and
the CPU time spent inside the exact additions themselves::

    python benchmarks/bench_reduction_cost.py --rows 100000 --iters 8 --repeats 3
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import skadmm.backends._base as backends_base
from skadmm import ADMMClassifier
from skadmm.backends._exact import ExactSum


class FloatSum:
    """The replaced reduction: float64 sums in the order the partials arrive."""

    def __init__(self, n):
        self.value_ = np.zeros(n)
        self.top = self.value_  # for the byte count

    def add(self, x):
        self.value_ += np.asarray(x, dtype=np.float64).ravel()

    def add_rows(self, rows):
        for x in rows:
            self.add(x)

    def merge(self, other):
        self.value_ += other.value_
        return self

    def value(self):
        return self.value_


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend", default="serial")
    p.add_argument("--chunk-rows", type=int, default=backends_base.CHUNK_ROWS)
    args = p.parse_args()
    backends_base.CHUNK_ROWS = args.chunk_rows
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 28))
    y = (X[:, 0] * X[:, 1] + np.sin(X[:, 2]) > 0).astype(int)
    times = {"exact": [], "float": []}
    cpu = {"exact": [], "float": []}
    inside = []
    timed = _timed(ExactSum)
    for _ in range(args.repeats):
        for name, acc in (("exact", timed), ("float", FloatSum)):
            backends_base.ExactSum = acc
            timed.seconds = 0.0
            c0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = ADMMClassifier(
                    hidden_layer_sizes=(300,),
                    max_iter=args.iters,
                    tol=0,
                    early_stopping=False,
                    random_state=0,
                    backend=args.backend,
                ).fit(X, y)
            # per iteration; the readout refit's share is small and in both
            cpu[name].append((time.process_time() - c0) / clf.n_iter_)
            times[name].append(clf.iteration_time_)
            if name == "exact":
                inside.append(timed.seconds / clf.n_iter_)
    backends_base.ExactSum = ExactSum
    print(
        f"{args.rows} rows x 28, 300 hidden, default solver, {args.iters} iterations, "
        f"backend={args.backend}, chunks of {args.chunk_rows} rows, median of {args.repeats}"
    )
    for label, d in (("wall", times), ("CPU", cpu)):
        exact, flt = np.median(d["exact"]), np.median(d["float"])
        print(
            f"{label} seconds per iteration: exact {exact:.4f}, float {flt:.4f}, "
            f"cost {100 * (exact / flt - 1):+.1f} %"
        )
    share = np.median(inside) / np.median(cpu["exact"])
    print(
        f"CPU seconds per iteration inside the exact additions: {np.median(inside):.4f} "
        f"({100 * share:.1f} % of the iteration)"
    )
    print("all runs (wall):", {k: [round(t, 4) for t in v] for k, v in times.items()})
    print("all runs (CPU):", {k: [round(t, 4) for t in v] for k, v in cpu.items()})


def _timed(cls):
    """``cls`` with the CPU time of its methods summed in ``.seconds``."""

    class Timed(cls):
        seconds = 0.0

    for name in ("add_rows", "merge", "shift_to", "value", "to_integers"):
        method = getattr(cls, name)

        def wrapper(self, *a, _method=method, **kw):
            t = time.thread_time()
            try:
                return _method(self, *a, **kw)
            finally:
                Timed.seconds += time.thread_time() - t

        setattr(Timed, name, wrapper)
    return Timed


if __name__ == "__main__":
    main()
