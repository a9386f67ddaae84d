"""Ambient configuration, in the manner of :func:`sklearn.config_context`."""

import threading
from contextlib import contextmanager

_local = threading.local()
_DEFAULTS = {"mpi_comm": None, "tune_allocator": True}


def get_config():
    """The current skadmm configuration (a copy)."""
    if not hasattr(_local, "config"):
        _local.config = dict(_DEFAULTS)
    return dict(_local.config)


@contextmanager
def config_context(*, mpi_comm=None, tune_allocator=None):
    """Set skadmm options inside a ``with`` block.

    Parameters
    ----------
    mpi_comm : mpi4py.MPI.Comm, default=None
        Communicator for ``backend="mpi"`` (default ``MPI.COMM_WORLD``),
        e.g. a sub-communicator.  skadmm duplicates it for every fit.
    tune_allocator : bool, default=None
        Whether the first fit may raise glibc's mmap / trim thresholds
        (see :mod:`skadmm._allocator`); ``None`` keeps the current setting
        (on by default).
    """
    old = get_config()
    new = {**old, "mpi_comm": mpi_comm}
    if tune_allocator is not None:
        new["tune_allocator"] = bool(tune_allocator)
    _local.config = new
    try:
        yield
    finally:
        _local.config = old
