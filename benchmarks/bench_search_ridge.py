"""A prototype, not in the library: the search's output layer ridged relative to its features.

Every candidate of the default's relaxation search is judged with its output
layer refitted exactly by ridge least squares to the targets (variable
projection), and the hidden layers' targets start from that output layer
(eq. (6) reads its weights).  The default's ridge there is ``alpha``
(``1e-4``), negligible next to the features' Gram matrix, whose diagonal
grows with the number of rows.  This script measures a ridge that does
not: ``lam`` times the mean diagonal of that (weighted) Gram matrix, the
features' squares summed over the rows with their sample weights and
averaged over the features, added to ``alpha`` for every output-layer refit
of the search and in the objective it compares (the hidden layers' steps,
the classifiers' log-loss output layer and the regressor's readout refit
after the iterations are unchanged).  It is installed for the fit by
:func:`fitted`, which replaces the search module's ``weight_update`` (its
calls with ``beta = 1/2``, the output layer's) and ``readout_objective``,
and restores them after.

Validation splits of the training rows of every dataset
(``bench_growth.validation_split``: 75/25, stratified for classification;
all the training rows unless ``--rows`` caps them; split seeds ``--seeds``,
default 0, 1, 2, each also ``random_state``), ``--depths`` hidden layers of
100 units (default 1,2; every stage of a deep fit uses the ridge; ``--quick``:
at most 3,000 rows, split seed 0).  Scores: accuracy, R^2.  Nothing here
reads a test set.
"""

import types

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, pair_sections, validation_cells

import skadmm._solver._search as search_module
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm import _kernels as K

#: the relative ridges measured against the default (``alpha`` only)
RIDGES = (1e-3, 1e-2)


def relative_kernels(lam):
    """The kernels module as the search sees it, its output-layer refits ridged by ``lam``
    times the mean diagonal of their Gram matrix (on top of ``alpha``)."""

    def ridge(gram, alpha):
        d = gram.shape[0] - 1  # the last row and column are the intercept's
        return alpha + lam * float(np.mean(np.diag(gram)[:d]))

    def weight_update(gram, cross, alpha, beta, dtype=np.float64):
        if beta == 0.5:  # the output layer's exact refit (Search.fit_readout, candidates)
            alpha = ridge(gram, alpha)
        return K.weight_update(gram, cross, alpha, beta, dtype=dtype)

    def readout_objective(gram, cross, sq_target, W, c, alpha):
        return K.readout_objective(gram, cross, sq_target, W, c, ridge(gram, alpha))

    kernels = types.SimpleNamespace(**{k: getattr(K, k) for k in dir(K) if not k.startswith("_")})
    kernels.weight_update = weight_update
    kernels.readout_objective = readout_objective
    return kernels


def fitted(model, Xa, ya, Xv, yv, lam):
    """(validation score, seconds, iterations) of ``model`` with the search's output-layer
    ridge ``lam`` (None: the default)."""
    # the output layer's refits are the search's only weight updates with beta = 1/2
    assert model.get_params()["beta"] != 0.5, "a hidden step would be ridged too"
    if lam is not None:
        search_module.K = relative_kernels(lam)
    try:
        return fit(model, Xa, ya, Xv, yv)
    finally:
        search_module.K = K


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True, rows=None)
    rows, cells = [], {lam: [] for lam in RIDGES}
    for name, seed, depth, (Xa, Xv, ya, yv, reg) in validation_cells(
        names, rows_cap, seeds, depths
    ):
        Est = ADMMRegressor if reg else ADMMClassifier
        out = {
            lam: fitted(Est((100,) * depth, random_state=seed), Xa, ya, Xv, yv, lam)
            for lam in (None, *RIDGES)
        }
        d = out[None]
        row = [name, "regression" if reg else len(np.unique(ya)), seed, depth, f"{d[0]:.4f}"]
        row += [f"{out[lam][0]:.4f}" for lam in RIDGES]
        row += [f"{out[lam][0] - d[0]:+.4f}" for lam in RIDGES]
        row += [f"{out[lam][1]:.1f}" for lam in (None, *RIDGES)]
        row += [out[lam][2] for lam in (None, *RIDGES)]
        print(*row, flush=True)
        rows.append(row)
        for lam in RIDGES:
            cells[lam].append((name, depth, d, out[lam]))
    headers = ["dataset", "classes", "seed", "hidden layers", "default"]
    headers += [f"ridge {lam:g}" for lam in RIDGES]
    headers += [f"ridge {lam:g} - default" for lam in RIDGES]
    headers += [f"{'default' if lam is None else f'ridge {lam:g}'} s" for lam in (None, *RIDGES)]
    headers += [
        f"{'default' if lam is None else f'ridge {lam:g}'} iterations" for lam in (None, *RIDGES)
    ]
    rows_text = "every training row" if rows_cap is None else f"at most {rows_cap} rows"
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, stratified for classification; "
            f"{rows_text}; split seeds {seeds}, also random_state), 100 units per hidden "
            f"layer, depths {depths}; validation accuracy or R^2; default = the estimator's "
            "default (the search's output layer ridged by alpha = 1e-4); ridge lam = the same "
            "with that ridge lam times the mean diagonal of its features' weighted Gram "
            "matrix (this script's docstring); seconds are fit times in this one run.",
        ),
        ("Every fit", table(headers, rows)),
    ]
    sections += pair_sections(cells, depths, lambda lam: f"Ridge {lam:g} against the default")
    report("search_ridge", "A prototype: the search's output layer ridged", sections)


if __name__ == "__main__":
    main()
