"""Execution backends: serial numpy, joblib threads, mpi4py ranks.

Backends are resolved by name inside ``fit`` (the estimators store only the
name).  Register your own with :func:`register_backend`.
"""

from ._base import (
    BLOCK_ROWS,
    CHUNK_ROWS,
    Backend,
    RankFailedError,
    Symmetric,
    balanced_runs,
    block_rows_for,
    blocks_for,
    chunk_rows_for,
    partition,
)
from ._joblib import JoblibBackend, default_threads
from ._serial import SerialBackend

__all__ = [
    "BLOCK_ROWS",
    "CHUNK_ROWS",
    "Backend",
    "RankFailedError",
    "Symmetric",
    "balanced_runs",
    "block_rows_for",
    "JoblibBackend",
    "SerialBackend",
    "available_backends",
    "blocks_for",
    "chunk_rows_for",
    "default_threads",
    "get_backend",
    "partition",
    "register_backend",
]


def _mpi_factory(n_jobs=None):
    from ._mpi import MPIBackend  # imports nothing from mpi4py until entered

    return MPIBackend(n_jobs=n_jobs)


_REGISTRY = {
    "serial": SerialBackend,
    "joblib": JoblibBackend,
    "mpi": _mpi_factory,
}


def register_backend(name, factory):
    """Make ``backend=name`` available to the estimators.

    Parameters
    ----------
    name : str
    factory : callable
        Called as ``factory(n_jobs=...)`` at the start of every ``fit``; it
        returns a fresh :class:`Backend` instance.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("backend name must be a non-empty string")
    if not callable(factory):
        raise TypeError(f"backend factory for {name!r} must be callable")
    _REGISTRY[name] = factory


def available_backends():
    """Names accepted by the estimators' ``backend`` parameter."""
    return sorted(_REGISTRY)


def get_backend(name, n_jobs=None):
    """A new backend instance for ``name`` (see :func:`available_backends`)."""
    try:
        factory = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown backend {name!r}; available backends: {available_backends()} "
            "(register others with skadmm.backends.register_backend)"
        ) from None
    backend = factory(n_jobs=n_jobs)
    if not isinstance(backend, Backend):
        raise TypeError(f"backend factory for {name!r} returned {type(backend)!r}, not a Backend")
    return backend
