"""Keep glibc from returning block-sized temporaries to the kernel after every use.

The solver works on cache-sized blocks of rows, so every kernel call
allocates temporaries of a few hundred KiB.  glibc serves allocations above
its ``M_MMAP_THRESHOLD`` (128 KiB until it adapts) with fresh ``mmap`` calls
and trims freed heap tops above ``M_TRIM_THRESHOLD``: each temporary is then
page-faulted in again, which on the HIGGS-shaped 100,000 x 300 problem made
an iteration 2.2x slower (1.37 s against 0.61 s per iteration, measured with
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456``).

:func:`tune_allocator` raises both thresholds once per process with
``mallopt`` (glibc only; a no-op elsewhere, or when the user already set
``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` or turned it off
with ``skadmm.config_context(tune_allocator=False)``).  The cost: up to
``TRIM_THRESHOLD`` bytes of freed memory stay reserved by the process for
reuse instead of going back to the operating system.
"""

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum on 64-bit
TRIM_THRESHOLD = 512 * 2**20
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def tune_allocator():
    """Raise glibc's mmap and trim thresholds once; return True if they were set."""
    global _done
    if _done:
        return False
    _done = True
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
            return False
        ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        ok &= mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        return bool(ok)
    except OSError:  # pragma: no cover - no loadable C library
        return False
