"""The mpi4py backend: SPMD, each rank holds its own rows.

mpi4py is imported only when this backend is used (importing it starts MPI).
"""

import pickle
import time

import numpy as np

from .._config import get_config
from ._base import Backend, RankFailedError

__all__ = ["MPIBackend"]

#: Tag of the failure notices on the backend's error communicator.
_FAILED = 17
#: Characters of a failing rank's message sent to the others.
_MESSAGE_CHARS = 2000
#: Seconds a collective may take to complete after a failure notice arrived.
_GRACE = 1.0
#: What a failed fit leaves in flight (notices sent, a collective that will
#: never complete, and their buffers): kept alive until the process ends, so
#: that MPI never writes into freed memory.
_IN_FLIGHT = []


class MPIBackend(Backend):
    """Every rank calls ``fit`` with its own rows; all ranks end with the same model.

    The backend duplicates the communicator (``MPI.COMM_WORLD``, or the one
    set with :func:`skadmm.config_context` ``(mpi_comm=...)``) for the
    duration of a fit, so skadmm's messages never meet the user's.  Arrays
    cross ranks with the buffer calls; only small control data (labels,
    shapes, dtypes, parameters) is pickled.

    Every collective is *guarded*: it is started non-blocking and waited for
    together with a receive, posted for the whole fit on a second duplicate
    of the communicator, of a failure notice.  A rank whose ``fit`` raises
    sends its message to every other rank as it leaves the backend
    (:meth:`__exit__`); a rank waiting in a collective (or arriving at the
    next one) then raises :class:`~skadmm.backends.RankFailedError` ("rank k
    failed: ...") instead of waiting for a rank that will never come.

    Sums are exact (:meth:`reduce_parts`): the result depends neither on
    the number of ranks nor on the order of the partial sums.
    """

    name = "mpi"
    supports_sharedmem = False
    distributed = True

    def __init__(self, n_jobs=None, comm=None):
        super().__init__()
        self._user_comm = comm
        self.comm = None
        self._errors = None
        self._notice = None
        self._buffer = None
        self._failure = None

    def __enter__(self):
        from mpi4py import MPI

        self._MPI = MPI
        base = self._user_comm or get_config()["mpi_comm"] or MPI.COMM_WORLD
        self.comm = base.Dup()
        self._errors = base.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._buffer = bytearray(_MESSAGE_CHARS * 4 + 64)
        self._failure = None
        self._notice = self._errors.Irecv(
            [self._buffer, MPI.BYTE], source=MPI.ANY_SOURCE, tag=_FAILED
        )
        return super().__enter__()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is not None and not isinstance(exc, RankFailedError):
                self._tell_the_others(exc)
            if self._notice:  # not yet matched (a matched one is MPI.REQUEST_NULL)
                self._notice.Cancel()
                self._notice.Wait()
            if exc is None:
                self.comm.Free()
                self._errors.Free()
            else:
                # a collective may still be pending on the duplicates: they
                # are kept, not freed (freeing is collective)
                _IN_FLIGHT.append((self.comm, self._errors, self._buffer))
        finally:
            self.comm = self._errors = self._notice = None
        return super().__exit__(exc_type, exc, tb)

    def _tell_the_others(self, exc):
        text = f"{type(exc).__name__}: {exc}"[:_MESSAGE_CHARS].encode("utf-8", "replace")
        for dest in range(self.size):
            if dest != self.rank:
                # small messages go eagerly: this returns without the receiver
                request = self._errors.Isend([text, self._MPI.BYTE], dest=dest, tag=_FAILED)
                _IN_FLIGHT.append((request, text))

    def _wait(self, request, *buffers):
        """Wait for ``request``, or raise if another rank reports a failure first.

        A notice can arrive while this collective is still completing with the
        failing rank's part in it (a rank that raises right after a collective,
        such as the input check's consensus): the collective gets
        :data:`_GRACE` seconds to finish, and then the failure is raised at the
        next collective, which that rank will never join.
        """
        if self._failure is None:
            status = self._MPI.Status()
            index = self._MPI.Request.Waitany([request, self._notice], status)
            if index == 0:
                return
            n = status.Get_count(self._MPI.BYTE)
            message = bytes(self._buffer[:n]).decode("utf-8", "replace")
            self._failure = f"backend='mpi': rank {status.Get_source()} failed: {message}"
            deadline = time.monotonic() + _GRACE
            while time.monotonic() < deadline:
                if request.Test():
                    return
                time.sleep(1e-3)
        _IN_FLIGHT.append((request, buffers))
        raise RankFailedError(self._failure)

    # ---- collectives ---------------------------------------------------------
    def map_blocks(self, fn, blocks):
        return [fn(b) for b in blocks]

    def _allreduce(self, send, op):
        send = np.ascontiguousarray(send)
        recv = np.empty_like(send)
        self._wait(self.comm.Iallreduce(send, recv, op=op), send, recv)
        return recv

    def reduce_accumulator(self, acc):
        super().reduce_accumulator(acc)
        if self.size > 1:
            digits = acc.to_integers()  # flags non-finite entries in acc.top
            top = self._allreduce(acc.top, self._MPI.MAX)
            acc.digits = digits
            acc.shift_to(top)
            acc.digits = self._allreduce(acc.digits, self._MPI.SUM)
        return acc

    def allgather(self, obj):
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        counts = np.empty(self.size, dtype=np.int64)
        count = np.array([data.size], dtype=np.int64)
        self._wait(self.comm.Iallgather(count, counts), count, counts)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        recv = np.empty(int(counts.sum()), dtype=np.uint8)
        self._wait(
            self.comm.Iallgatherv(
                [data, self._MPI.BYTE], [recv, (counts, displs), self._MPI.BYTE]
            ),
            data,
            recv,
            counts,
            displs,
        )
        return [pickle.loads(recv[d : d + c].tobytes()) for d, c in zip(displs, counts)]

    def bcast(self, obj):
        return self.allgather(obj if self.rank == 0 else None)[0]

    def barrier(self):
        self._wait(self.comm.Ibarrier())

    def row_offset(self, n_local):
        counts = self.allgather(int(n_local))
        return int(sum(counts[: self.rank]))

    def alltoall(self, objs):
        """``objs[q]`` goes to rank ``q``; returns what every rank sent here."""
        payload = [np.frombuffer(pickle.dumps(o), dtype=np.uint8) for o in objs]
        scounts = np.array([p.size for p in payload], dtype=np.int64)
        rcounts = np.empty(self.size, dtype=np.int64)
        self._wait(self.comm.Ialltoall(scounts, rcounts), scounts, rcounts)
        sdispls = np.concatenate([[0], np.cumsum(scounts)[:-1]])
        rdispls = np.concatenate([[0], np.cumsum(rcounts)[:-1]])
        send = np.concatenate(payload) if payload else np.zeros(0, np.uint8)
        recv = np.empty(int(rcounts.sum()), dtype=np.uint8)
        B = self._MPI.BYTE
        self._wait(
            self.comm.Ialltoallv([send, (scounts, sdispls), B], [recv, (rcounts, rdispls), B]),
            send,
            recv,
            scounts,
            sdispls,
            rcounts,
            rdispls,
        )
        return [pickle.loads(recv[d : d + c].tobytes()) for d, c in zip(rdispls, rcounts)]

    def move_rows(self, chunk_rows, arrays):
        """Move rows between neighbouring ranks so each rank starts on a chunk boundary.

        Rank ``r``'s first global row ``s_r`` becomes ``chunk_rows * (s_r //
        chunk_rows)``; the rows keep their global order, so the global data,
        and every chunk's partial sum, are those of a serial fit.  At most
        one chunk of rows crosses each rank boundary, once per fit.
        ``None`` entries of ``arrays`` stay ``None``.
        """
        n_local = arrays[0].shape[0]
        counts = self.allgather(int(n_local))
        starts = np.concatenate([[0], np.cumsum(counts)])
        new = (starts // chunk_rows) * chunk_rows
        new[-1] = starts[-1]
        if np.array_equal(new, starts):
            return arrays
        lo, hi = starts[self.rank], starts[self.rank + 1]
        out = []
        for q in range(self.size):
            a, b = max(lo, new[q]), min(hi, new[q + 1])
            rows = slice(int(a - lo), int(max(a, b) - lo))
            out.append([None if x is None else x[rows] for x in arrays])
        pieces = self.alltoall(out)
        merged = []
        for j, x in enumerate(arrays):
            if x is None:
                merged.append(None)
                continue
            parts = [p[j] for p in pieces]
            merged.append(_stack(parts))
        return tuple(merged)


def _stack(parts):
    from scipy import sparse

    if sparse.issparse(parts[0]):
        return sparse.vstack(parts, format="csr")
    return np.concatenate(parts, axis=0)
