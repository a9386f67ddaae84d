"""The backend seam: where rows live and how their sums meet.

A backend places rows and moves sums; it contains no ADMM mathematics.  The
solver (:mod:`skadmm._solver`) calls only :meth:`Backend.map_blocks`,
:meth:`Backend.reduce_blocks`, :meth:`Backend.allreduce`,
:meth:`Backend.allgather`, :meth:`Backend.bcast` and
:meth:`Backend.row_offset`; every backend runs the same kernels on its own
blocks of rows.
"""

from abc import ABC, abstractmethod

import numpy as np
from threadpoolctl import threadpool_limits

from .._allocator import tune_allocator
from .._config import get_config

__all__ = ["BLOCK_ROWS", "Backend", "block_rows_for", "blocks_for", "partition"]

#: Rows per block of the random initial state (see
#: :func:`skadmm._solver.gaussian_rows`).  Blocks are aligned on *global* row
#: numbers (block ``k`` holds global rows ``[k * rows, (k + 1) * rows)``), so
#: the initial state and the order of every sum depend only on the data and
#: the layer widths, never on how rows are split between workers.
BLOCK_ROWS = 1024

#: Bytes of one per-block array the compute blocks aim at: small enough that
#: the per-sample updates' temporaries stay in cache and are recycled by the
#: allocator instead of being page-faulted in afresh, large enough for
#: efficient BLAS calls.
_BLOCK_BYTES = 2**20


def block_rows_for(widths, itemsize):
    """Rows per compute block for layers of these widths (a power of two, 64..8192).

    Depends only on the widths and the dtype, which every worker shares, so
    every worker cuts the global rows at the same places.
    """
    rows = _BLOCK_BYTES // (max(widths) * int(itemsize))
    rows = 1 << max(int(rows).bit_length() - 1, 0)
    return int(min(max(rows, 64), 8192))


def partition(n_rows, n_parts, part):
    """The one rule that decides which rows a worker owns.

    Contiguous, in order, sizes differing by at most one (the first
    ``n_rows % n_parts`` parts get one row more).

    Parameters
    ----------
    n_rows : int
        Total number of rows.
    n_parts : int
        Number of workers (MPI ranks, joblib jobs, files...).
    part : int
        Which worker, ``0 <= part < n_parts``.

    Returns
    -------
    rows : slice
    """
    n_rows, n_parts, part = int(n_rows), int(n_parts), int(part)
    if n_parts < 1 or not 0 <= part < n_parts or n_rows < 0:
        raise ValueError(
            f"partition needs n_rows >= 0 and 0 <= part < n_parts; "
            f"got n_rows={n_rows}, n_parts={n_parts}, part={part}"
        )
    q, r = divmod(n_rows, n_parts)
    start = part * q + min(part, r)
    return slice(start, start + q + (part < r))


def blocks_for(offset, n_local, block_rows=BLOCK_ROWS):
    """Local row slices of the global blocks that meet ``[offset, offset + n_local)``.

    Returns
    -------
    blocks : list of (int, slice)
        ``(global_block_index, local_slice)`` pairs, in row order.
    """
    out = []
    start = offset
    stop = offset + n_local
    while start < stop:
        k = start // block_rows
        end = min(stop, (k + 1) * block_rows)
        out.append((k, slice(start - offset, end - offset)))
        start = end
    return out


class Backend(ABC):
    """Base class of skadmm's execution backends.

    A backend is a context manager: the solver enters it for the duration
    of one ``fit`` (to start a thread pool, duplicate a communicator...)
    and leaves it afterwards; fitted estimators never hold one.

    Capability flags, as in :mod:`joblib`'s backends:

    ``supports_sharedmem``
        Blocks are processed in one address space (threads or serial).
    ``distributed``
        Each process holds only its own rows; sums cross processes.

    Subclasses implement :meth:`map_blocks` and, when distributed,
    :meth:`allreduce`, :meth:`allgather`, :meth:`bcast` and
    :meth:`row_offset`.

    While entered, BLAS is limited (with :mod:`threadpoolctl`) to
    :attr:`blas_threads` threads per worker, 1 by default: the solver works
    on cache-sized blocks of rows, whose matrix products are too small for
    BLAS threads to pay (measured on the HIGGS sample, 300 hidden units:
    0.27 s per iteration with 2 BLAS threads, 0.12 s with 1).  Parallelism
    comes from the workers instead: joblib threads or MPI ranks.
    """

    name = "base"
    supports_sharedmem = True
    distributed = False
    blas_threads = 1

    def __init__(self):
        self.rank = 0
        self.size = 1
        self.bytes_reduced = 0
        self.n_allreduce = 0
        self._limits = None

    def __enter__(self):
        if get_config()["tune_allocator"]:
            tune_allocator()
        self._limits = threadpool_limits(limits=self.blas_threads, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
        return False

    @property
    def is_root(self):
        """Whether this process prints and plays rank 0."""
        return self.rank == 0

    @abstractmethod
    def map_blocks(self, fn, blocks):
        """Call ``fn(block)`` for every block of local rows; results in block order."""

    def allreduce(self, array):
        """Sum ``array`` (float64) over processes; identity on one process."""
        array = np.asarray(array, dtype=np.float64)
        self.n_allreduce += 1
        self.bytes_reduced += array.nbytes
        return array

    def allgather(self, obj):
        """List of every process's ``obj`` (small control data only)."""
        return [obj]

    def bcast(self, obj):
        """Rank 0's ``obj`` on every process (small control data only)."""
        return obj

    def row_offset(self, n_local):
        """Global index of this process's first row (the sum of lower ranks' rows)."""
        return 0

    def reduce_blocks(self, fn, blocks, shapes):
        """Sum the arrays ``fn(block)`` returns over all blocks and processes.

        ``fn`` returns a tuple of arrays of the given ``shapes``.  Each
        worker adds its blocks' results in block order into one float64
        accumulator (memory independent of the number of blocks); the
        accumulators are packed into one buffer and reduced with a single
        :meth:`allreduce`: one message whose size depends on the layer
        widths, never on the number of rows.  A process with no rows
        contributes zeros.
        """
        total = [np.zeros(s) for s in shapes]
        for partial in self.map_runs(_accumulate(fn, shapes), list(blocks)):
            for t, x in zip(total, partial):
                t += x
        flat = self.allreduce(np.concatenate([t.ravel() for t in total]))
        out, pos = [], 0
        for s in shapes:
            size = int(np.prod(s, dtype=np.int64))
            out.append(flat[pos : pos + size].reshape(s))
            pos += size
        return out

    def map_runs(self, fn, blocks):
        """Call ``fn(run)`` on contiguous runs of blocks, one run per worker.

        The default is one run of all blocks; threaded backends split them.
        """
        return [fn(blocks)] if blocks else []


def _accumulate(fn, shapes):
    def run(blocks):
        total = [np.zeros(s) for s in shapes]
        for b in blocks:
            for t, x in zip(total, fn(b)):
                t += x
        return total

    return run
