"""The joblib backend: threads over row blocks of shared arrays."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from joblib import effective_n_jobs
from joblib.parallel import get_active_backend
from threadpoolctl import threadpool_info

from ._base import _ACTIVE_LOCK, Backend, active_backends, balanced_runs

__all__ = ["JoblibBackend", "default_threads"]


def default_threads():
    """Threads for ``n_jobs=None``: as many as BLAS may use, shared with the process's ranks.

    That is :mod:`threadpoolctl`'s view of the BLAS thread pools (the
    smallest, where several are loaded): the cores by default, fewer under
    ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``, under
    :func:`threadpoolctl.threadpool_limits`, or in a worker of joblib's loky
    backend (scikit-learn's ``GridSearchCV(n_jobs=k)``), which limits BLAS
    to its share of the cores.  The same rule as scikit-learn's estimators
    whose native threads follow the OpenMP pool (``KMeans``,
    ``HistGradientBoostingClassifier``): a fit uses what the process is
    allowed, and never oversubscribes a limited worker.  Under an MPI
    launcher that says how many ranks share this node (MPICH's
    ``MPI_LOCALNRANKS``, Open MPI's ``OMPI_COMM_WORLD_LOCAL_SIZE``), that
    count divides it (at least 1): every rank of ``mpiexec -n 2`` on two
    cores gets one thread for a fit that does not use ``backend="mpi"``.
    Without a BLAS pool in view, :func:`joblib.effective_n_jobs` of ``-1``
    (the cores) stands for it.
    """
    counts = [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]
    threads = max(1, min(counts)) if counts else max(1, effective_n_jobs(-1))
    return max(1, threads // _local_ranks())


def _local_ranks():
    """Ranks on this node, as the MPI launcher tells its processes (1 without one)."""
    for name in _LOCAL_RANKS_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


#: What MPI launchers set to the number of ranks on the node: MPICH's Hydra
#: (the ``mpich`` wheel's ``mpiexec``), Open MPI, MVAPICH2.
_LOCAL_RANKS_VARIABLES = (
    "MPI_LOCALNRANKS",
    "OMPI_COMM_WORLD_LOCAL_SIZE",
    "MV2_COMM_WORLD_LOCAL_SIZE",
)


class JoblibBackend(Backend):
    """Threads over blocks of rows, all in shared memory (no copies): the default.

    The number of threads is ``n_jobs``; when it is ``None``, the one set by
    :func:`joblib.parallel_config` if it sets one, else one inside another
    fit or off the main thread, else :func:`default_threads` (as many as
    BLAS may use: the cores, unless limited); see ``resolve_n_jobs``.
    ``-1`` means all cores, as in joblib.  A call's chunks of blocks (in
    maps as in reductions) are dealt as contiguous runs balanced by their
    blocks (:func:`~skadmm.backends.balanced_runs`), one per thread; the
    calling thread runs the first run and a pool of ``n_jobs - 1`` threads,
    alive while the backend is entered, the others.  numpy and BLAS release the GIL, so the
    per-sample updates and the per-block products run concurrently.  The
    threads only read the shared inputs and write disjoint rows of the
    solver's own state.  Every sum is reproducible, so the model is the
    same, to the last bit, on any number of threads.

    The pool is :class:`concurrent.futures.ThreadPoolExecutor` rather than
    :class:`joblib.Parallel`: a fit makes a few calls per iteration and
    dozens in the output layer's fit, each worth a few milliseconds of
    work, and a call of an entered ``Parallel`` on two threads cost 10.6 ms
    on the workplace's machine, against 73 µs for the pool's
    (``benchmarks/results/threads.md``).

    To keep two levels of threads from oversubscribing the cores, BLAS is
    limited (through :mod:`threadpoolctl`) to one thread per worker while
    the backend is active (see :class:`~skadmm.backends.Backend`).
    """

    name = "joblib"

    def __init__(self, n_jobs=None):
        super().__init__()
        self.n_jobs_param = n_jobs
        self.n_jobs = None
        self._pool = None

    def __enter__(self):
        # resolved before Backend.__enter__ limits BLAS to one thread, and with the
        # count of running fits in one step: of two fits started at once, one waits
        with _ACTIVE_LOCK:
            self.n_jobs = resolve_n_jobs(self.n_jobs_param)
            super().__enter__()
        if self.n_jobs > 1:
            self._pool = ThreadPoolExecutor(self.n_jobs - 1, thread_name_prefix="skadmm")
        return self

    def __exit__(self, *exc):
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        finally:
            self._pool = None
            self.n_jobs = None
            super().__exit__(*exc)
        return False

    def map_runs(self, fn, items):
        if self.n_jobs is None:
            raise RuntimeError("JoblibBackend must be entered (with ...) before use")
        items = list(items)
        n = min(self.n_jobs, len(items))
        if n <= 1:
            return [fn(items)] if items else []
        # One task per thread, each a contiguous run of items (chunks, lists
        # of blocks, weighed by their blocks): dispatching a task costs more
        # than a cache-sized block's work.
        weights = [len(i) if isinstance(i, (list, tuple, range)) else 1 for i in items]
        runs = [items[r] for r in balanced_runs(weights, n)]
        futures = [self._pool.submit(fn, run) for run in runs[1:]]
        try:
            first = fn(runs[0])
        finally:
            # never leave a thread writing the state behind an exception
            done = [f.exception() for f in futures]
        for error in done:
            if error is not None:
                raise error
        return [first] + [f.result() for f in futures]

    def map_blocks(self, fn, blocks):
        # whole chunks per thread, as the reductions deal them: rows that fit
        # in one chunk stay on the calling thread with no dispatch, and a
        # thread's rows are the same in every pass (dealing blocks by count
        # instead changed the shared sets' fit times by 0.87-1.19, threads.md)
        blocks = list(blocks)
        per = max(1, int(self.blocks_per_chunk))
        chunks = [blocks[i : i + per] for i in range(0, len(blocks), per)]
        runs = self.map_runs(_run(fn), chunks)
        return [r for run in runs for r in run]


def resolve_n_jobs(n_jobs):
    """The threads of ``backend="joblib"`` for the estimators' ``n_jobs`` (at least 1).

    ``None``: :func:`joblib.parallel_config`'s ``n_jobs`` where it sets
    one; else one thread for a fit started while another skadmm fit runs in
    this process (a fit inside a fit's thread, or fits run side by side in
    threads: the cores are taken) or from a thread other than the main one
    (as joblib runs nested parallel calls: a thread pool of the caller's,
    e.g. ``GridSearchCV`` under joblib's threading backend, already uses
    the cores); else :func:`default_threads`.  Negative values count from
    the cores as in joblib (``-1``: all of them); ``0`` is an error.
    """
    if n_jobs is not None and int(n_jobs) == 0:
        raise ValueError(
            "n_jobs == 0 has no meaning; use None, a positive count or -1 (all cores)"
        )
    if n_jobs is None:
        configured = get_active_backend()[1]
        if configured is not None:
            n_jobs = configured
        elif active_backends() > 0 or threading.current_thread() is not threading.main_thread():
            return 1
        else:
            return default_threads()
    return max(1, effective_n_jobs(n_jobs))


def _run(fn):
    def run(chunks):
        return [fn(b) for chunk in chunks for b in chunk]

    return run
