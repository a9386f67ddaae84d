"""Order-free (exact) sums of float64 arrays: the reproducible reductions.

A float64 sum depends on the order of its terms.  The backends add the
partial sums of the row blocks with :class:`ExactSum` instead: every term is
cut, exactly, into signed 32-bit digits on a grid of powers of two that is
the same for every term (digit ``j`` weighs ``2**(32 * j)``), and the digits
are added as int64 integers, which is exact and associative.  Per entry,
only the ``DIGITS`` digits from the highest one that any term reaches are
kept (at least 64 bits below the largest term's leading bit, more than
float64's 53); lower digits are dropped for every term alike.  So the sum
depends only on the multiset of terms, never on their order or grouping,
and two accumulators merge exactly: across threads by :meth:`ExactSum.merge`,
across MPI ranks by one max-reduction of the top digit indices and one
int64 sum-reduction of the digits.

Non-finite terms make the entry NaN (the solver only asks whether a sum is
finite).
"""

import numpy as np

__all__ = ["BYTES_PER_ENTRY", "DIGITS", "ExactSum", "exact_sum"]

#: Bits per digit (a power of two).
BITS = 32
_LOG2_BITS = 5
#: Digits kept per entry.
DIGITS = 3
#: Bytes a reduction across processes moves per entry: an int32 top digit index
#: (max-reduced) and DIGITS int64 digits (sum-reduced).
BYTES_PER_ENTRY = 4 + 8 * DIGITS
#: Top digit index of an entry that has seen no term (below every float64).
_EMPTY = -40
#: Top digit index that marks an entry with a non-finite term.
_NONFINITE = 1 << 20


class ExactSum:
    """An exact, order-free running sum of float64 arrays of ``n`` entries.

    Attributes
    ----------
    top : ndarray of int32, shape (n,)
        Per entry, the index of the highest digit kept.
    digits : ndarray of shape (DIGITS, n)
        ``digits[k]`` sums the terms' digits of weight ``2**(BITS * (top - k))``:
        float64 holding integers (exact up to 2**21 terms per entry: a chunk of
        rows each), int64 after a reduction across processes.  A non-finite
        term makes its entry's digits non-finite.
    """

    def __init__(self, n):
        self.top = np.full(n, _EMPTY, dtype=np.int32)
        self.digits = np.zeros((DIGITS, n))
        self._shift = np.full(n, -BITS * _EMPTY, dtype=np.int32)

    def shift_to(self, top):
        """Re-express the digits for a higher (or equal) ``top``; drops the lowest."""
        top = np.maximum(top, self.top).astype(np.int32)
        delta = top - self.top
        if np.any(delta):
            old = self.digits
            new = np.zeros_like(old)
            for k in range(DIGITS):
                for j in range(k + 1):  # new digit k holds old digit j when delta == k - j
                    np.add(new[k], old[j], out=new[k], where=delta == k - j)
            self.digits = new
            self.top = top
            self._shift = np.clip(-BITS * top, -4096, 4096).astype(np.int32)

    def add(self, x):
        """Add the float64 array ``x`` (flattened) exactly."""
        self.add_rows(np.asarray(x, dtype=np.float64).reshape(1, -1))

    def add_rows(self, rows):
        """Add every row of the float64 array ``rows`` of shape (m, n) exactly."""
        rows = np.asarray(rows, dtype=np.float64)
        # 2**(e - 1) <= |x| < 2**e; a zero counts as 1e-300 (its digits are 0): the
        # top digit index is a function of the term alone, at or above its leading bit
        _, top = np.frexp(np.abs(rows) + 1e-300)
        top -= 1
        top >>= _LOG2_BITS  # floor division by BITS
        top = top.max(axis=0) if rows.shape[0] > 1 else top[0]
        if np.any(top > self.top):
            self.shift_to(top)
        # exact: a power-of-two scaling, then truncations of numbers below 2**BITS;
        # the digits are integers, so their float64 sums are exact in any order
        s = np.ldexp(rows, self._shift)
        with np.errstate(invalid="ignore"):  # inf - inf: the entry is NaN anyway
            for k in range(DIGITS):
                d = np.trunc(s)
                self.digits[k] += d[0] if rows.shape[0] == 1 else d.sum(axis=0)
                if k + 1 < DIGITS:
                    s -= d
                    s *= 2.0**BITS

    def merge(self, other):
        """Add another accumulator's sum (exact)."""
        other.shift_to(self.top)
        self.shift_to(other.top)
        self.digits = self.digits + other.digits
        return self

    def to_integers(self):
        """int64 digits for a reduction across processes; non-finite entries flagged in top."""
        bad = ~np.all(np.isfinite(self.digits), axis=0)
        if bad.any():
            self.top = np.where(bad, _NONFINITE, self.top)
            self.digits = np.where(bad, 0.0, self.digits)
        return self.digits.astype(np.int64)

    def value(self):
        """The sum as float64 (deterministic given the exact sum)."""
        ok = self.top < _NONFINITE
        top = np.where(ok, self.top, 0)
        out = np.zeros(self.top.shape)
        for k in range(DIGITS):
            out += np.ldexp(self.digits[k].astype(np.float64), (BITS * (top - k)).astype(np.int32))
        out[~ok] = np.nan
        out[~np.isfinite(out)] = np.nan
        return out


def exact_sum(arrays, shape):
    """Order-free sum of float64 arrays of ``shape`` (zeros for none)."""
    acc = ExactSum(int(np.prod(shape, dtype=np.int64)))
    for a in arrays:
        acc.add(a)
    return acc.value().reshape(shape)
