"""One chunk, no digits: the default fit on one chunk of rows, with and without the exact sum.

Every reduction adds the float64 sums of its chunks (``CHUNK_ROWS`` = 8,192
rows or more) exactly, as integer digits, so that the result is the same on
any number of threads or ranks.  Where all the rows of a fit are one chunk
on a backend that is not distributed (serial, joblib), the exact sum of
that one term is the term itself, so ``Backend.reduce_blocks`` returns
the chunk's float64 sum without forming the digits
(``Backend._one_chunk``), bitwise what the digits give.  This
compares, side by side in one process, the default fit (``one chunk``)
against the same fit with every reduction through the digits (``exact``:
``Backend._one_chunk`` monkeypatched to ``Backend._exact_chunks``, nothing
else changed), and checks that both fit the same weights to the last bit.

Every shared dataset, as ``bench_growth.py`` splits it (75/25 of the
training rows, seed 0, all training rows unless ``--rows``); the default
``ADMMClassifier`` / ``ADMMRegressor`` with 1 and 2 hidden layers of 100
units (``--depths``), after one warm-up fit per dataset.  Only the
datasets whose warm-up fit took the one-chunk path are reported (its rows
are one chunk, so every reduction over them takes it; the classifiers hold
out 10 % for early stopping: up to about 9,100 training rows of the split);
each time is the least of 3 fits per configuration, alternated in the
order A B, B A, A B.
"""

import time
import warnings

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, validation_split

import skadmm.backends._base as bb
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm.backends import CHUNK_ROWS

CONFIGS = ("one chunk", "exact")
_ONE_CHUNK = bb.Backend._one_chunk


def _exact(self, fn, chunks, shapes, packing, n):
    return self._exact_chunks(fn, chunks, shapes, packing, n)


def fit(Est, Xa, ya, depth, config):
    """(model, seconds, reductions on the one-chunk path) of the default fit."""
    calls = [0]

    def counted(self, *args):
        calls[0] += 1
        return (_exact if config == "exact" else _ONE_CHUNK)(self, *args)

    bb.Backend._one_chunk = counted
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            model = Est(hidden_layer_sizes=(100,) * depth, random_state=0).fit(Xa, ya)
            return model, time.perf_counter() - t, calls[0]
    finally:
        bb.Backend._one_chunk = _ONE_CHUNK


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2", rows=None)
    repeats = 3
    rows, ratios = [], []
    for name in names:
        Xa, Xv, ya, yv, reg = validation_split(name, rows_cap)
        if len(ya) > 2 * CHUNK_ROWS:  # two chunks at least, whatever is held out
            continue
        Est = ADMMRegressor if reg else ADMMClassifier
        _, _, n_one = fit(Est, Xa, ya, 1, "one chunk")  # warm-up; is it one chunk?
        if not n_one:
            continue
        for depth in depths:
            best = {c: (None, np.inf, 0) for c in CONFIGS}
            for k in range(repeats):
                for c in CONFIGS if k % 2 == 0 else CONFIGS[::-1]:
                    m, t, k = fit(Est, Xa, ya, depth, c)
                    if t < best[c][1]:
                        best[c] = (m, t, k)
            ref, other = best["one chunk"][0], best["exact"][0]
            same = all(
                np.array_equal(a, b)
                for a, b in zip(ref.coefs_ + ref.intercepts_, other.coefs_ + other.intercepts_)
            )
            t1, te = best["one chunk"][1], best["exact"][1]
            ratios.append(t1 / te)
            print(name, depth, round(t1, 3), round(te, 3), same, flush=True)
            rows.append(
                [name, depth, len(ya), f"{ref.score(Xv, yv):.4f}", "yes" if same else "NO"]
                + [f"{t1:.3f}", f"{te:.3f}", f"{t1 / te:.2f}", best["one chunk"][2], ref.n_iter_]
            )
    r = np.array(ratios)
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; rows cap: "
            f"{rows_cap or 'none'}), 100 units per hidden layer, the default ADMMClassifier / "
            f"ADMMRegressor; seconds: the least of {repeats} fits, the two configurations "
            "alternated in this process (A B, B A, A B); same = both fit the same weights to the "
            "last bit; "
            "reductions = those of the fit on the one-chunk path (the output layer's included).",
        ),
        (
            "Summary: one chunk / exact fit time",
            table(
                ["fits", "geometric mean", "smallest", "largest"],
                [
                    [
                        len(r),
                        f"{np.exp(np.mean(np.log(r))):.2f}",
                        f"{r.min():.2f}",
                        f"{r.max():.2f}",
                    ]
                ],
            ),
        ),
        (
            "Per dataset",
            table(
                [
                    "dataset",
                    "hidden layers",
                    "train rows",
                    "validation score",
                    "same",
                    "one chunk s",
                    "exact s",
                    "one chunk / exact",
                    "reductions",
                    "iterations",
                ],
                rows,
            ),
        ),
    ]
    report("one_chunk", "One chunk, no digits: small fits without the exact sum", sections)


if __name__ == "__main__":
    main()
