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

__all__ = ["DIGITS", "ExactSum", "exact_sum"]

#: Bits per digit: up to 2**31 terms add without overflowing int64.
BITS = 32
#: Digits kept per entry.
DIGITS = 3
#: Top digit index of an entry that has only seen zeros (below every float64).
_EMPTY = -40
#: Top digit index that marks an entry with a non-finite term.
_NONFINITE = 1 << 40


class ExactSum:
    """An exact, order-free running sum of float64 arrays of ``n`` entries.

    Attributes
    ----------
    top : ndarray of int64, shape (n,)
        Per entry, the index of the highest digit kept.
    digits : ndarray of int64, shape (DIGITS, n)
        ``digits[k]`` sums the terms' digits of weight ``2**(BITS * (top - k))``.
    """

    def __init__(self, n):
        self.top = np.full(n, _EMPTY, dtype=np.int64)
        self.digits = np.zeros((DIGITS, n), dtype=np.int64)

    def shift_to(self, top):
        """Re-express the digits for a higher (or equal) ``top``; drops the lowest."""
        top = np.maximum(top, self.top)
        delta = top - self.top
        if np.any(delta):
            old = self.digits
            new = np.zeros_like(old)
            for k in range(DIGITS):
                for j in range(k + 1):  # new digit k holds old digit j when delta == k - j
                    hit = delta == k - j
                    new[k] += np.where(hit, old[j], 0)
            self.digits = new
            self.top = top

    def add(self, x):
        """Add the float64 array ``x`` (flattened) exactly."""
        x = np.asarray(x, dtype=np.float64).ravel()
        finite = np.isfinite(x)
        if not finite.all():
            x = np.where(finite, x, 0.0)
        _, e = np.frexp(x)  # |x| < 2**e
        top = np.where(x != 0, (e.astype(np.int64) - 1) // BITS, _EMPTY)
        if not finite.all():
            top = np.where(finite, top, _NONFINITE)
        self.shift_to(top)
        ok = self.top < _NONFINITE
        # exact: a power-of-two scaling, then truncations of numbers < 2**BITS
        s = np.ldexp(x, np.where(ok, -BITS * self.top, 0).astype(np.int32))
        for k in range(DIGITS):
            d = np.trunc(s)
            self.digits[k] += d.astype(np.int64)
            if k + 1 < DIGITS:
                s = (s - d) * 2.0**BITS

    def merge(self, other):
        """Add another accumulator's sum (exact)."""
        other.shift_to(self.top)
        self.shift_to(other.top)
        self.digits += other.digits
        return self

    def value(self):
        """The sum as float64 (deterministic given the exact sum)."""
        ok = self.top < _NONFINITE
        top = np.where(ok, self.top, 0)
        out = np.zeros(self.top.shape)
        for k in range(DIGITS):
            out += np.ldexp(self.digits[k].astype(np.float64), (BITS * (top - k)).astype(np.int32))
        out[~ok] = np.nan
        return out


def exact_sum(arrays, shape):
    """Order-free sum of float64 arrays of ``shape`` (zeros for none)."""
    acc = ExactSum(int(np.prod(shape, dtype=np.int64)))
    for a in arrays:
        acc.add(a)
    return acc.value().reshape(shape)
