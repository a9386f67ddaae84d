"""The mpi4py backend: SPMD, each rank holds its own rows.

mpi4py is imported only when this backend is used (importing it starts MPI).
"""

import numpy as np

from .._config import get_config
from ._base import Backend

__all__ = ["MPIBackend"]


class MPIBackend(Backend):
    """Every rank calls ``fit`` with its own rows; all ranks end with the same model.

    The backend duplicates the communicator (``MPI.COMM_WORLD``, or the one
    set with :func:`skadmm.config_context` ``(mpi_comm=...)``) for the
    duration of a fit, so skadmm's messages never meet the user's.  Arrays
    cross ranks with the buffer calls (``Allreduce``); only small control
    data (labels, shapes, dtypes, parameters) uses the pickle calls.

    Per iteration it reduces one packed buffer of the small sums
    ``[a 1]^T [a 1]`` and ``[a 1]^T z`` per layer, plus one buffer of a few
    scalars; the per-sample updates need no communication.
    """

    name = "mpi"
    supports_sharedmem = False
    distributed = True

    def __init__(self, n_jobs=None, comm=None):
        super().__init__()
        self._user_comm = comm
        self.comm = None

    def __enter__(self):
        from mpi4py import MPI

        self._MPI = MPI
        base = self._user_comm or get_config()["mpi_comm"] or MPI.COMM_WORLD
        self.comm = base.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        return super().__enter__()

    def __exit__(self, *exc):
        if self.comm is not None:
            self.comm.Free()
            self.comm = None
        return super().__exit__(*exc)

    def map_blocks(self, fn, blocks):
        return [fn(b) for b in blocks]

    def allreduce(self, array):
        send = np.ascontiguousarray(array, dtype=np.float64)
        recv = np.empty_like(send)
        self.comm.Allreduce(send, recv, op=self._MPI.SUM)
        self.n_allreduce += 1
        self.bytes_reduced += send.nbytes
        return recv

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def row_offset(self, n_local):
        offset = self.comm.exscan(int(n_local))
        return 0 if offset is None else int(offset)
