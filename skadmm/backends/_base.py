"""The backend seam: where rows live and how their sums meet.

A backend places rows and moves sums; it contains no ADMM mathematics.  The
solver (:mod:`skadmm._solver`) calls only :meth:`Backend.align_rows`,
:meth:`Backend.map_blocks`, :meth:`Backend.reduce_blocks`,
:meth:`Backend.reduce_parts`, :meth:`Backend.allreduce`,
:meth:`Backend.allgather`, :meth:`Backend.bcast` and
:meth:`Backend.row_offset` (the estimators also :meth:`Backend.barrier`);
every backend runs the same kernels on its own blocks of rows.  Every sum is
exact and order-free (:mod:`skadmm.backends._exact`), so a fit is the same,
to the last bit, on any backend and partition.
"""

import bisect
import functools
import itertools
import threading
from abc import ABC, abstractmethod

import numpy as np
from threadpoolctl import threadpool_limits

from .._allocator import tune_allocator
from .._config import get_config
from ._exact import BYTES_PER_ENTRY, ExactSum

__all__ = [
    "BLOCK_ROWS",
    "Symmetric",
    "CHUNK_ROWS",
    "Backend",
    "RankFailedError",
    "balanced_runs",
    "block_rows_for",
    "blocks_for",
    "chunk_rows_for",
    "partition",
]


#: The backends entered in this process (fits running now, in any thread) and the
#: BLAS limit they hold together (see :meth:`Backend.__enter__`).
_ACTIVE = {"backends": 0, "limits": None}
_ACTIVE_LOCK = threading.RLock()


def active_backends():
    """How many backends are entered in this process now (fits running, in any thread)."""
    return _ACTIVE["backends"]


class RankFailedError(RuntimeError):
    """Another process of a distributed fit failed; the message holds its error.

    Raised on every other rank when one rank's ``fit`` raises (that rank
    raises its own exception), at the first collective they reach.
    """


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

#: Most bytes of the input's block (a read-only view of ``X``): an input
#: wider than the hidden layers no longer shrinks the blocks to its own
#: width.  Sized by the input's width too, Fashion-MNIST's 784 pixels cut
#: the blocks of a 100-unit network to 128 rows, whose products with ``X``
#: ran at a fraction of BLAS's speed: the default fits took 1.32 and 1.23
#: times as long as with 1,024-row blocks (validation split of the training
#: rows, 1 and 2 hidden layers, ``benchmarks/results/threads.md``).
_INPUT_BLOCK_BYTES = 2**24

#: Fewest rows of a *chunk*, the unit of the reproducible sums: the blocks of
#: a chunk (global rows ``[k * c, (k + 1) * c)`` with ``c = max(block rows,
#: CHUNK_ROWS)``) are added in float64 in block order by one worker, and the
#: chunks' sums are added exactly (:class:`~skadmm.backends._exact.ExactSum`).
#: A chunk is never split between workers (joblib runs are whole chunks; MPI
#: ranks exchange rows so that each starts on a chunk), so every sum is the
#: same whatever the partition.  Large enough that the exact additions cost
#: little next to the chunk's products (measured in docs/backends.rst).
CHUNK_ROWS = 8192


class Symmetric(tuple):
    """The shape ``(n, n)`` of a symmetric matrix among a reduction's ``shapes``.

    :meth:`Backend.reduce_blocks` adds and moves only its upper triangle
    (``n (n + 1) / 2`` entries instead of ``n^2``: half the bytes of a
    Gram matrix) and returns it mirrored, symmetric to the last bit.  Only
    the upper triangle of the arrays ``fn`` returns for it is read (a Gram
    matrix, or one symmetric up to rounding).
    """

    def __new__(cls, n):
        return super().__new__(cls, (int(n), int(n)))

    def __getnewargs__(self):  # copy and pickle rebuild it from n
        return (self[0],)

    @property
    def packed_size(self):
        return self[0] * (self[0] + 1) // 2


@functools.lru_cache(maxsize=64)
def _upper(n):
    """The row and column indices of an ``n x n`` matrix's upper triangle (shared, read-only)."""
    return np.triu_indices(n)


def _packing(shapes):
    """Per shape: (entries reduced, pack(full array) -> vector, unpack(vector) -> array)."""
    out = []
    for s in shapes:
        if isinstance(s, Symmetric):
            upper = _upper(s[0])

            def pack(a, upper=upper):
                return a[upper]

            def unpack(v, n=s[0], upper=upper):
                m = np.empty((n, n))
                m[upper] = v
                m[upper[1], upper[0]] = v
                return m

            out.append((s.packed_size, pack, unpack))
        else:
            size = int(np.prod(s, dtype=np.int64))
            out.append((size, np.ravel, lambda v, s=tuple(s): v.reshape(s)))
    return out


def chunk_rows_for(block_rows):
    """Rows per chunk of reproducible sums for blocks of ``block_rows`` rows."""
    return max(int(block_rows), CHUNK_ROWS)


def block_rows_for(widths, itemsize):
    """Rows per compute block for a network of these widths (a power of two, 64..8192).

    ``widths`` is ``[n_in, hidden..., n_out]``.  The solver's own per-sample
    arrays, one per layer after the input, aim at :data:`_BLOCK_BYTES`; the
    input's block, a view of ``X`` that the solver only reads, at most at
    :data:`_INPUT_BLOCK_BYTES`.  Depends only on the widths and the dtype,
    which every worker shares, so every worker cuts the global rows at the
    same places.
    """
    widths = [int(w) for w in widths]
    itemsize = int(itemsize)
    own = max(widths[1:]) if len(widths) > 1 else widths[0]
    rows = min(
        _BLOCK_BYTES // (max(own, 1) * itemsize),
        _INPUT_BLOCK_BYTES // (max(widths[0], 1) * itemsize),
    )
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


def balanced_runs(weights, n_parts):
    """Contiguous runs of items with about equal total ``weights``, at most ``n_parts``.

    Run ``k`` ends where the weights' running total comes nearest to ``(k +
    1) / n_parts`` of the whole, every run keeping at least one item.  A
    thread's share of a pass is whole chunks, and the last chunk of the rows
    may hold a single block: split by count, chunks of 8, 8 and 1 blocks
    (16,385 to 17,408 rows of 1,024-row blocks) would give one thread 16
    blocks and the other one; by weight they are split 8 against 9.

    Returns
    -------
    runs : list of slice
        Non-empty, in order, covering ``range(len(weights))``.
    """
    total = list(itertools.accumulate(float(w) for w in weights))  # tiny: plain Python
    n_items = len(total)
    n = max(1, min(int(n_parts), n_items))
    if n_items == 0:
        return []
    cuts, start = [], 0
    for k in range(1, n):
        target = total[-1] * k / n
        # the end of run k - 1: leave an item for each of the n - k runs after it
        lo, hi = start + 1, n_items - (n - k)
        end = min(max(bisect.bisect_left(total, target) + 1, lo), hi)
        if end > lo and abs(total[end - 2] - target) <= abs(total[end - 1] - target):
            end -= 1
        cuts.append(end)
        start = end
    bounds = [0, *cuts, n_items]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


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
    :meth:`allgather`, :meth:`bcast`, :meth:`barrier`, :meth:`row_offset`,
    :meth:`reduce_accumulator` (combine the processes' exact sums) and
    :meth:`move_rows` (start every process on a chunk of rows).  A
    distributed backend should also make a failure on one process an error
    on every other one instead of a hang (see
    :class:`~skadmm.backends.RankFailedError` and the mpi backend).

    While entered, BLAS is limited (with :mod:`threadpoolctl`) to
    :attr:`blas_threads` threads per worker, 1 by default (the limit is the
    process's: the first backend entered sets it and the last one to leave
    restores it, so fits running at once in threads of one process, or a
    fit inside another, never leave it lowered): the solver works
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
        self._entered = False
        self.blocks_per_chunk = 1

    def __enter__(self):
        if get_config()["tune_allocator"]:
            tune_allocator()
        with _ACTIVE_LOCK:
            if _ACTIVE["backends"] == 0:
                _ACTIVE["limits"] = threadpool_limits(limits=self.blas_threads, user_api="blas")
            _ACTIVE["backends"] += 1
        self._entered = True
        return self

    def __exit__(self, *exc):
        if self._entered:
            self._entered = False
            with _ACTIVE_LOCK:
                _ACTIVE["backends"] -= 1
                if _ACTIVE["backends"] == 0:
                    _ACTIVE["limits"].restore_original_limits()
                    _ACTIVE["limits"] = None
        return False

    @property
    def is_root(self):
        """Whether this process prints and plays rank 0."""
        return self.rank == 0

    @abstractmethod
    def map_blocks(self, fn, blocks):
        """Call ``fn(block)`` for every block of local rows; results in block order."""

    def allreduce(self, array):
        """Sum ``array`` (float64) over processes, exactly; identity on one process."""
        return self.reduce_parts([array], np.shape(array))

    def allgather(self, obj):
        """List of every process's ``obj`` (small control data only)."""
        return [obj]

    def bcast(self, obj):
        """Rank 0's ``obj`` on every process (small control data only)."""
        return obj

    def barrier(self):  # noqa: B027 (a no-op for one process, not abstract)
        """Wait for every process (a distributed backend raises if one failed)."""

    def row_offset(self, n_local):
        """Global index of this process's first row (the sum of lower ranks' rows)."""
        return 0

    def align_rows(self, block_rows, *arrays):
        """Set the chunks for blocks of ``block_rows`` rows; returns ``arrays``.

        A distributed backend also moves rows between processes so that each
        starts on a chunk (see :data:`CHUNK_ROWS`); the rows keep their
        global order.  Called by the solver before it lays out its blocks.
        """
        chunk = chunk_rows_for(block_rows)
        self.blocks_per_chunk = chunk // int(block_rows)
        if self.distributed:
            return self.move_rows(chunk, arrays)
        return arrays

    def move_rows(self, chunk_rows, arrays):
        """Distributed backends: exchange rows so each process starts on a chunk.

        This default moves nothing: the sums stay exact and order-free, but a
        process boundary inside a chunk splits that chunk's float64 sum, so
        the model can then depend on the partition in the last bits.
        """
        return arrays

    def reduce_parts(self, parts, shape):
        """Sum the local arrays ``parts`` (of ``shape``) and over processes, exactly.

        The result depends only on the multiset of every process's parts:
        not on their order, their grouping or the number of processes.
        """
        n = int(np.prod(shape, dtype=np.int64))
        acc = ExactSum(n)
        if len(parts):
            acc.add_rows(np.reshape(parts, (len(parts), n)))
        return self.reduce_accumulator(acc).value().reshape(shape)

    def reduce_accumulator(self, acc):
        """Combine the processes' accumulators (identity on one process)."""
        self.n_allreduce += 1
        # what a distributed reduction moves: the top digit indices and the digits
        self.bytes_reduced += acc.top.size * BYTES_PER_ENTRY
        return acc

    def reduce_blocks(self, fn, blocks, shapes):
        """Sum the arrays ``fn(block)`` returns over all blocks and processes.

        ``fn`` returns a tuple of arrays of the given ``shapes`` (a
        :class:`Symmetric` one: only its upper triangle is reduced).  The blocks
        of one chunk (:data:`CHUNK_ROWS`) are added in float64 in block order;
        the chunks' sums are added exactly, so the result is the same on any
        number of threads or ranks.  Each worker keeps one accumulator
        (memory independent of the number of blocks); the processes combine
        theirs with one max- and one int64 sum-reduction whose size depends
        on the layer widths, never on the number of rows.  A process with no
        rows contributes zeros.  Where all rows are one chunk of a backend
        that is not ``distributed``, the chunk's float64 sum is returned as
        the exact sum would be, without its digits (:meth:`_one_chunk`:
        bitwise the same).
        """
        blocks = list(blocks)
        per = max(1, int(self.blocks_per_chunk))
        chunks = [blocks[i : i + per] for i in range(0, len(blocks), per)]
        packing = _packing(shapes)
        n = sum(size for size, _, _ in packing)
        if not self.distributed and len(chunks) <= 1:
            flat = self._one_chunk(fn, chunks, shapes, packing, n)
        else:
            flat = self._exact_chunks(fn, chunks, shapes, packing, n)
        out, pos = [], 0
        for size, _, unpack in packing:
            out.append(unpack(flat[pos : pos + size]))
            pos += size
        return out

    def _exact_chunks(self, fn, chunks, shapes, packing, n):
        """:meth:`reduce_blocks`'s sum: each chunk's float64 sum, added exactly
        over the chunks, the workers and the processes (packed, flat)."""
        acc = ExactSum(n)
        for part in self.map_runs(_accumulate(fn, shapes, packing), chunks):
            acc.merge(part)
        return self.reduce_accumulator(acc).value()

    def _one_chunk(self, fn, chunks, shapes, packing, n):
        """:meth:`_exact_chunks` where all rows are one chunk of one process.

        Only for a backend that is not ``distributed``: a distributed one
        (MPI on any number of ranks, or one of your own) always combines
        its processes' accumulators (:meth:`reduce_accumulator`), whatever
        its ``size``.  The exact sum of one float64 term is that term (an
        :class:`~skadmm.backends._exact.ExactSum` holds any one float64
        exactly: its 3 digits of 32 bits span more than a float64's
        exponent-aligned 53), so the chunk's float64 sum is the result, with
        what :meth:`ExactSum.value` makes of it: a non-finite entry as NaN
        (the chunk's sum starts from ``+0.0``, so it is never ``-0.0``).
        Bitwise the exact path's, without its digits, which on small
        problems cost as much as the products (the default fits of the
        shared sets whose rows are one chunk took 0.74 to 1.05 of the exact
        path's time, geometric mean 0.91, same weights:
        ``benchmarks/results/one_chunk.md``).  Counted as one reduction of
        ``n`` entries, as the exact path is.
        """
        self.n_allreduce += 1
        self.bytes_reduced += n * BYTES_PER_ENTRY
        if not chunks:
            return np.zeros(n)
        flat = _chunk_sum(fn, chunks[0], shapes, packing)
        flat[~np.isfinite(flat)] = np.nan
        return flat

    def map_runs(self, fn, items):
        """Call ``fn(run)`` on contiguous runs of ``items``, one run per worker.

        The default is one run of all items; threaded backends split them
        (the joblib backend balances runs of chunks by their blocks,
        :func:`balanced_runs`).
        """
        return [fn(items)] if items else []


def _chunk_sum(fn, chunk, shapes, packing):
    """One chunk's float64 sum of ``fn(block)`` over its blocks, in block order, packed flat."""
    total = [np.zeros(s) for s in shapes]
    for b in chunk:
        for t, x in zip(total, fn(b)):
            t += x
    return np.concatenate([pack(t) for t, (_, pack, _) in zip(total, packing)])


def _accumulate(fn, shapes, packing):
    def run(chunks):
        acc = ExactSum(sum(size for size, _, _ in packing))
        for chunk in chunks:
            acc.add(_chunk_sum(fn, chunk, shapes, packing))
        return acc

    return run
