"""Threads over row blocks by default: the default fit on one thread and on the machine's threads.

The default backend is ``"joblib"`` with ``n_jobs=None``: threads over runs
of row blocks, as many as BLAS may use (``skadmm.backends.default_threads``:
the cores here), dispatched by a pool alive for the whole fit.  Before, the
default was ``"serial"``: one thread, and every backend limits BLAS to one
thread per worker (the solver's cache-sized blocks make its products too
small for BLAS's own threads to pay: docs/backends.rst), so a default fit
used one core.  Every sum is reproducible, so the first four
configurations below fit the same model to the last bit; the table checks
it (the predictions of the validation rows) and times them:

* ``serial``: ``backend="serial"`` (the previous default);
* ``joblib.Parallel``: the previous ``"joblib"`` backend's dispatch, an
  entered :class:`joblib.Parallel` called once per map or reduction, with
  its runs split by item count, a map's items being blocks (monkeypatched
  here, nothing else changed);
* ``maps by blocks``: the default's pool, but a map (a pass without a sum)
  deals blocks by count instead of whole chunks;
* ``default``: the estimator's defaults (a :class:`ThreadPoolExecutor`;
  maps and reductions alike deal whole chunks, balanced by their blocks,
  ``skadmm.backends.balanced_runs``);
* ``input-width blocks``: the default, with the compute blocks sized by the
  input's width too (the previous ``block_rows_for``: 1 MiB for the widest
  of all layers, the input included).  Only where the input is wider than
  every hidden layer are the blocks other than the default's (here
  Fashion-MNIST: 128 rows instead of 1,024), and there the model differs in
  its rounding (its predictions are not compared).

First, the cost of one dispatch of two trivial tasks on two threads.  Then,
on every shared dataset, as ``bench_growth.py`` splits it (75/25 of the
training rows, seed 0, all training rows unless ``--rows``), the default
``ADMMClassifier`` / ``ADMMRegressor`` with 1 and 2 hidden layers of 100
units (``--depths``), the three configurations one after the other in this
process, after one warm-up fit per dataset (this VM pays about 2.4 ms per
MiB the first time a process touches fresh memory).
"""

import os
import time
import warnings

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, validation_split
from joblib import Parallel, delayed

import skadmm._solver._network as network
import skadmm.backends._base as bb
import skadmm.backends._joblib as jb
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm.backends import partition

CONFIGS = ("serial", "joblib.Parallel", "maps by blocks", "default", "input-width blocks")
SAME_MODEL = CONFIGS[:4]


def dispatch_cost(n_threads, calls=500):
    """Microseconds per call of two trivial tasks: an entered joblib.Parallel, a pool."""

    def task(x):
        return x

    with Parallel(n_jobs=n_threads, prefer="threads", require="sharedmem") as parallel:
        parallel(delayed(task)(i) for i in range(n_threads))
        t = time.perf_counter()
        for _ in range(calls):
            parallel(delayed(task)(i) for i in range(n_threads))
        joblib_us = (time.perf_counter() - t) / calls * 1e6
    with jb.JoblibBackend(n_threads) as backend:
        backend.map_runs(lambda run: run, list(range(n_threads)))
        t = time.perf_counter()
        for _ in range(calls):
            backend.map_runs(lambda run: run, list(range(n_threads)))
        pool_us = (time.perf_counter() - t) / calls * 1e6
    return joblib_us, pool_us


_ENTER, _EXIT = jb.JoblibBackend.__enter__, jb.JoblibBackend.__exit__
_MAP_RUNS, _MAP_BLOCKS = jb.JoblibBackend.map_runs, jb.JoblibBackend.map_blocks


def _parallel_enter(self):
    out = _ENTER(self)
    self._parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", require="sharedmem")
    self._parallel.__enter__()
    return out


def _parallel_exit(self, *exc):
    self._parallel.__exit__(*exc)
    return _EXIT(self, *exc)


def _parallel_map_runs(self, fn, items):
    """The previous dispatch: the fit's entered joblib.Parallel, runs split by item count."""
    items = list(items)
    n = min(self.n_jobs, len(items))
    if n <= 1:
        return [fn(items)] if items else []
    runs = [items[partition(len(items), n, k)] for k in range(n)]
    return self._parallel(delayed(fn)(run) for run in runs)


def _parallel_map_blocks(self, fn, blocks):
    """The previous dispatch of a map: blocks (not chunks) split by count."""
    runs = _parallel_map_runs(self, lambda run: [fn(b) for b in run], blocks)
    return [r for run in runs for r in run]


def _pool_map_blocks(self, fn, blocks):
    """A map on the default's pool, its blocks (not chunks) split by count."""
    runs = _MAP_RUNS(self, lambda run: [fn(b) for b in run], list(blocks))
    return [r for run in runs for r in run]


def _input_width_block_rows(widths, itemsize):
    """The previous ``block_rows_for``: 1 MiB for the widest layer, the input included."""
    rows = bb._BLOCK_BYTES // (max(widths) * int(itemsize))
    rows = 1 << max(int(rows).bit_length() - 1, 0)
    return int(min(max(rows, 64), 8192))


def fit(Est, Xa, ya, depth, config):
    kw = dict(hidden_layer_sizes=(100,) * depth, random_state=0)
    if config == "serial":
        kw["backend"] = "serial"
    if config == "maps by blocks":
        jb.JoblibBackend.map_blocks = _pool_map_blocks
    if config == "input-width blocks":
        network.block_rows_for = _input_width_block_rows
    if config == "joblib.Parallel":
        jb.JoblibBackend.__enter__ = _parallel_enter
        jb.JoblibBackend.__exit__ = _parallel_exit
        jb.JoblibBackend.map_runs = _parallel_map_runs
        jb.JoblibBackend.map_blocks = _parallel_map_blocks
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            model = Est(**kw).fit(Xa, ya)
            return model, time.perf_counter() - t
    finally:
        network.block_rows_for = bb.block_rows_for
        jb.JoblibBackend.__enter__, jb.JoblibBackend.__exit__ = _ENTER, _EXIT
        jb.JoblibBackend.map_runs, jb.JoblibBackend.map_blocks = _MAP_RUNS, _MAP_BLOCKS


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2", rows=None)
    threads = jb.resolve_n_jobs(None)
    joblib_us, pool_us = dispatch_cost(max(2, threads))
    others = [c for c in CONFIGS if c != "default"]
    rows, ratios = [], {c: [] for c in others}
    for name in names:
        Xa, Xv, ya, yv, reg = validation_split(name, rows_cap)
        Est = ADMMRegressor if reg else ADMMClassifier
        fit(Est, Xa, ya, 1, "default")  # warm-up: first touch of this set's memory
        for depth in depths:
            cells = {c: fit(Est, Xa, ya, depth, c) for c in CONFIGS}
            reference = cells["default"][0].predict(Xv)
            same = all(np.array_equal(cells[c][0].predict(Xv), reference) for c in SAME_MODEL)
            score = cells["default"][0].score(Xv, yv)
            t = {c: cells[c][1] for c in CONFIGS}
            print(name, depth, {c: round(v, 2) for c, v in t.items()}, same, flush=True)
            for c in ratios:
                ratios[c].append(t[c] / t["default"])
            rows.append(
                [name, depth, len(ya), f"{score:.4f}", "yes" if same else "NO"]
                + [f"{t[c]:.2f}" for c in CONFIGS]
                + [f"{t[c] / t['default']:.2f}" for c in others]
                + [cells["default"][0].n_iter_]
            )
    summary = []
    for c, r in ratios.items():
        r = np.array(r)
        summary.append(
            [f"{c} / default", f"{np.exp(np.mean(np.log(r))):.2f}", f"{r.min():.2f}"]
            + [f"{r.max():.2f}", f"{int(np.sum(r < 1))} of {len(r)}"]
        )
    sections = [
        (
            None,
            f"default threads here: {threads} (cores: {os.cpu_count()}); validation splits of "
            f"the training rows (75/25, seed 0; rows cap: {rows_cap or 'none'}), 100 units per "
            "hidden layer, the default ADMMClassifier / ADMMRegressor; seconds are fit times "
            "in the same run; same = the serial, joblib.Parallel, maps-by-blocks and default fits "
            "predict the validation rows identically.",
        ),
        (
            f"One dispatch of {max(2, threads)} trivial tasks",
            table(
                ["dispatch", "µs per call"],
                [
                    ["joblib.Parallel (entered once, called each time)", f"{joblib_us:.0f}"],
                    ["ThreadPoolExecutor (the default)", f"{pool_us:.0f}"],
                ],
            ),
        ),
        (
            "Summary: fit time against the default",
            table(["configuration", "geometric mean", "smallest", "largest", "faster"], summary),
        ),
        (
            "Per dataset",
            table(
                ["dataset", "hidden layers", "train rows", "validation score", "same"]
                + [f"{c} s" for c in CONFIGS]
                + [f"{c} / default" for c in others]
                + ["iterations"],
                rows,
            ),
        ),
    ]
    report("threads", "Threads over row blocks by default", sections)


if __name__ == "__main__":
    main()
