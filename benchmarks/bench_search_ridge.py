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

Which half of the ridge acts: the two roles of the search's output layer
are separated at ``lam = 1e-2``.  "objective only": the candidates are
compared by the ridged objective (the value at the ridged optimum), but the
output layer the state keeps, which eq. (6) reads, is the unridged fit;
"output layer only": the state keeps the ridged fit, but the candidates are
compared by the unridged objective (the value at the unridged optimum, one
more (h+1)-sized solve per candidate).

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
from bench_growth import fit, grid_arguments, pair_sections, rows_setting, validation_cells

import skadmm._solver._search as search_module
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm import _kernels as K

#: the variants measured against the default (``alpha`` only): label -> (lam, whether the
#: candidates' objective is ridged, whether the output layer the state keeps is ridged)
VARIANTS = {
    "ridge 0.001": (1e-3, True, True),
    "ridge 0.01": (1e-2, True, True),
    "ridge 0.01, objective only": (1e-2, True, False),
    "ridge 0.01, output layer only": (1e-2, False, True),
}


def relative_kernels(lam, objective=True, kept=True):
    """The kernels module as the search sees it, its output-layer refits ridged by ``lam``
    times the mean diagonal of their Gram matrix (on top of ``alpha``).

    ``objective``: the candidates are compared by the ridged objective, ``kept``: the
    output layer the state keeps (which eq. (6) reads) is the ridged fit.  With only one
    of them, the objective is evaluated at its own optimum (ridged or not), whatever
    output layer the state keeps."""

    def ridge(gram, alpha):
        d = gram.shape[0] - 1  # the last row and column are the intercept's
        return alpha + lam * float(np.mean(np.diag(gram)[:d]))

    def weight_update(gram, cross, alpha, beta, dtype=np.float64):
        if beta == 0.5 and kept:  # the output layer's exact refit (fit_readout, candidates)
            alpha = ridge(gram, alpha)
        return K.weight_update(gram, cross, alpha, beta, dtype=dtype)

    def readout_objective(gram, cross, sq_target, W, c, alpha):
        if objective:
            alpha = ridge(gram, alpha)
        if objective != kept:  # the kept output layer is not this objective's optimum
            W, c = K.weight_update(gram, cross, alpha, 0.5)
        return K.readout_objective(gram, cross, sq_target, W, c, alpha)

    kernels = types.SimpleNamespace(**{k: getattr(K, k) for k in dir(K) if not k.startswith("_")})
    kernels.weight_update = weight_update
    kernels.readout_objective = readout_objective
    return kernels


def fitted(model, Xa, ya, Xv, yv, variant):
    """(validation score, seconds, iterations) of ``model`` with the search's output-layer
    ridge ``variant``: ``(lam, objective, kept)`` (see :func:`relative_kernels`), or None
    (the default)."""
    # the output layer's refits are the search's only weight updates with beta = 1/2
    assert model.get_params()["beta"] != 0.5, "a hidden step would be ridged too"
    if variant is not None:
        search_module.K = relative_kernels(*variant)
    try:
        return fit(model, Xa, ya, Xv, yv)
    finally:
        search_module.K = K


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True, rows=None)
    rows, cells = [], {v: [] for v in VARIANTS}
    for name, seed, depth, (Xa, Xv, ya, yv, reg) in validation_cells(
        names, rows_cap, seeds, depths
    ):
        Est = ADMMRegressor if reg else ADMMClassifier
        out = {
            label: fitted(Est((100,) * depth, random_state=seed), Xa, ya, Xv, yv, variant)
            for label, variant in {"default": None, **VARIANTS}.items()
        }
        d = out["default"]
        row = [name, "regression" if reg else len(np.unique(ya)), seed, depth, f"{d[0]:.4f}"]
        row += [f"{out[v][0]:.4f}" for v in VARIANTS]
        row += [f"{out[v][0] - d[0]:+.4f}" for v in VARIANTS]
        row += [f"{x[1]:.1f}" for x in out.values()]
        row += [x[2] for x in out.values()]
        print(*row, flush=True)
        rows.append(row)
        for v in VARIANTS:
            cells[v].append((name, depth, d, out[v]))
    headers = ["dataset", "classes", "seed", "hidden layers", "default", *VARIANTS]
    headers += [f"{v} - default" for v in VARIANTS]
    headers += [f"{v} s" for v in out]
    headers += [f"{v} iterations" for v in out]
    rows_text = rows_setting(rows_cap)
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, stratified for classification; "
            f"{rows_text}; split seeds {seeds}, also random_state), 100 units per hidden "
            f"layer, depths {depths}; validation accuracy or R^2; default = the estimator's "
            "default (the search's output layer ridged by alpha = 1e-4); ridge lam = the same "
            "with that ridge lam times the mean diagonal of its features' weighted Gram "
            "matrix (this script's docstring); 'objective only' / 'output layer only': that ridge "
            "(lam = 0.01) in the candidates' objective only / in the output layer the state "
            "keeps (which eq. (6) reads) only; seconds are fit times in this one run.",
        ),
        ("Every fit", table(headers, rows)),
    ]
    sections += pair_sections(cells, depths, lambda v: f"{v.capitalize()} against the default")
    report("search_ridge", "A prototype: the search's output layer ridged", sections)


if __name__ == "__main__":
    main()
