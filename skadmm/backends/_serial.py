"""The serial numpy backend: every block in turn, in this process."""

from ._base import Backend

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """Process all blocks one after another in the calling thread: one core.

    BLAS is limited to one thread too, as in every backend (see
    :class:`~skadmm.backends.Backend`): the blocks' products are too small
    for its threads to pay.  The model is the default backend's
    (``"joblib"``, threads over the blocks) to the last bit.
    """

    name = "serial"

    def __init__(self, n_jobs=None):
        super().__init__()

    def map_blocks(self, fn, blocks):
        return [fn(b) for b in blocks]
