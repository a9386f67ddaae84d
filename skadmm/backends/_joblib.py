"""The joblib backend: threads over row blocks of shared arrays."""

from joblib import Parallel, delayed, effective_n_jobs

from ._base import Backend, partition

__all__ = ["JoblibBackend"]


class JoblibBackend(Backend):
    """Threads over blocks of rows, all in shared memory (no copies).

    The number of workers is ``n_jobs``, or, when it is ``None``, the one
    set by :func:`joblib.parallel_config` (default 1).  The blocks of one
    call are dealt to the workers; numpy and BLAS release the GIL, so the
    per-sample updates and the per-block products run concurrently.  The
    workers only read the shared inputs and write disjoint rows of the
    solver's own state.

    To keep two levels of threads from oversubscribing the cores, BLAS is
    limited (through :mod:`threadpoolctl`) to one thread per worker while
    the backend is active (see :class:`~skadmm.backends.Backend`).
    ``require="sharedmem"`` keeps
    joblib on threads even when :func:`joblib.parallel_config` names a
    process backend: the solver's state cannot be shared across processes.
    """

    name = "joblib"

    def __init__(self, n_jobs=None):
        super().__init__()
        self.n_jobs_param = n_jobs
        self.n_jobs = None
        self._parallel = None

    def __enter__(self):
        self.n_jobs = max(1, effective_n_jobs(self.n_jobs_param))
        super().__enter__()
        self._parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", require="sharedmem")
        self._parallel.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            if self._parallel is not None:
                self._parallel.__exit__(*exc)
        finally:
            self._parallel = None
            super().__exit__(*exc)
        return False

    def map_runs(self, fn, blocks):
        blocks = list(blocks)
        n = min(self.n_jobs, len(blocks))
        if n <= 1:
            return [fn(blocks)] if blocks else []
        # One task per worker, each a contiguous run of blocks (the same
        # partition rule as MPI ranks): dispatching a task costs more than a
        # cache-sized block's work.
        runs = [blocks[partition(len(blocks), n, k)] for k in range(n)]
        return self._parallel(delayed(fn)(run) for run in runs)

    def map_blocks(self, fn, blocks):
        if self._parallel is None:
            raise RuntimeError("JoblibBackend must be entered (with ...) before use")
        runs = self.map_runs(_run(fn), blocks)
        return [r for run in runs for r in run]


def _run(fn):
    def run(blocks):
        return [fn(b) for b in blocks]

    return run
