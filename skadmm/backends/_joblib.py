"""The joblib backend: threads over row blocks of shared arrays."""

from concurrent.futures import ThreadPoolExecutor

from joblib import effective_n_jobs
from joblib.parallel import get_active_backend
from threadpoolctl import threadpool_info

from ._base import Backend, balanced_runs, partition

__all__ = ["JoblibBackend", "default_threads"]


def default_threads():
    """Threads for ``n_jobs=None``: as many as BLAS may use.

    That is :mod:`threadpoolctl`'s view of the BLAS thread pools (the
    smallest, where several are loaded): the cores by default, fewer under
    ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``, under
    :func:`threadpoolctl.threadpool_limits`, or in a worker of joblib's loky
    backend (scikit-learn's ``GridSearchCV(n_jobs=k)``), which limits BLAS
    to its share of the cores.  The same rule as scikit-learn's estimators
    whose native threads follow the OpenMP pool (``KMeans``,
    ``HistGradientBoostingClassifier``): a fit uses what the process is
    allowed, and never oversubscribes a limited worker.  Without a BLAS
    pool in view, :func:`joblib.effective_n_jobs` of ``-1`` (the cores).
    """
    counts = [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, min(counts)) if counts else max(1, effective_n_jobs(-1))


class JoblibBackend(Backend):
    """Threads over blocks of rows, all in shared memory (no copies): the default.

    The number of threads is ``n_jobs``; when it is ``None``, the one set by
    :func:`joblib.parallel_config` if it sets one, else
    :func:`default_threads` (as many as BLAS may use: the cores, unless
    limited).  ``-1`` means all cores, as in joblib.  The items of one call
    are dealt as contiguous runs, one per thread; the calling thread runs
    the first run and a pool of ``n_jobs - 1`` threads, alive while the
    backend is entered, the others.  numpy and BLAS release the GIL, so the
    per-sample updates and the per-block products run concurrently.  The
    threads only read the shared inputs and write disjoint rows of the
    solver's own state.  Every sum is reproducible, so the model is the
    same, to the last bit, on any number of threads.

    The pool is :class:`concurrent.futures.ThreadPoolExecutor` rather than
    :class:`joblib.Parallel`: a fit makes a few calls per iteration and
    dozens in the output layer's fit, each worth a few milliseconds of
    work, and a call of an entered ``Parallel`` on two threads cost 10 ms
    on the workplace's machine, against 12 µs for a pool's submit and
    result (``benchmarks/results/threads.md``).

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
        # resolved before Backend.__enter__ limits BLAS to one thread
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
            super().__exit__(*exc)
        return False

    def map_runs(self, fn, items, weights=None):
        if self.n_jobs is None:
            raise RuntimeError("JoblibBackend must be entered (with ...) before use")
        items = list(items)
        n = min(self.n_jobs, len(items))
        if n <= 1:
            return [fn(items)] if items else []
        # One task per thread, each a contiguous run of items: dispatching a
        # task costs more than a cache-sized block's work.  Blocks are dealt
        # by the same partition rule as MPI ranks' rows, chunks by their work.
        if weights is None:
            runs = [items[partition(len(items), n, k)] for k in range(n)]
        else:
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
        # in one chunk stay on the calling thread (threads over its blocks
        # alone made the fits of the shared sets under 8,192 rows up to 1.3
        # times slower, threads.md), and a thread's rows are the same in
        # every pass
        blocks = list(blocks)
        per = max(1, int(self.blocks_per_chunk))
        chunks = [blocks[i : i + per] for i in range(0, len(blocks), per)]
        runs = self.map_runs(_run(fn), chunks, [len(c) for c in chunks])
        return [r for run in runs for r in run]


def resolve_n_jobs(n_jobs):
    """The threads of ``backend="joblib"`` for the estimators' ``n_jobs`` (at least 1)."""
    if n_jobs is None:
        configured = get_active_backend()[1]
        if configured is None:
            return default_threads()
        n_jobs = configured
    return max(1, effective_n_jobs(n_jobs))


def _run(fn):
    def run(chunks):
        return [fn(b) for chunk in chunks for b in chunk]

    return run
