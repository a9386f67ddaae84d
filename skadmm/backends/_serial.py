"""The serial numpy backend: every block in turn, in this process."""

from ._base import Backend

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """Process all blocks one after another in the calling thread.

    BLAS may still use several threads inside each matrix product (as
    configured by the user, e.g. with :func:`threadpoolctl.threadpool_limits`).
    """

    name = "serial"

    def __init__(self, n_jobs=None):
        super().__init__()

    def map_blocks(self, fn, blocks):
        return [fn(b) for b in blocks]
