"""The hidden targets' eq. (7): its global minimiser, within each unit's linear piece, or both.

The default solver's search fits each hidden layer's step to the targets
that Algorithm 1's sub-steps give from the output down: the output update,
the activation update (eq. (6)) and the pre-activation update (eq. (7)).
Eq. (7)'s global minimiser lets a unit *jump* to another piece of a
piecewise-linear activation (a ReLU unit from ``m < 0`` to ``z > 0``)
whenever a target there is cheaper; such a move only pays off after a
finite step, and a step fitted to it need not lower the searched objective
at all.  On krkopt (the 16,833 training rows of its seed-0 validation
split, standardised, one hidden layer of 100 units, ``early_stopping=False``,
``random_state=0``, 20 iterations) the step fitted to the global hinge
targets had cosine -0.06 with the negative gradient of the searched
objective and all 20 searches were rejected, while a line search along
the negative gradient lowered the objective by 3.4 %: the search had
stalled on a bad direction, not on a flat objective.  Within each entry's
piece the cosines were 0.05 to 0.22 (14 of 20 accepted); on the squared
targets 0.00 to 0.35 (12 of 20) against 0.58 to 0.88 (20 of 20)
(``bench_step_direction.py``, ``results/step_direction.md``).

Three forms of the targets (``SolverOptions.local_targets``), side by side:
``"never"`` (the global eq. (7), the previous default; the base of the
comparison), ``"always"`` (within the piece) and ``"after-rejection"``
(the default: the global form, and after a layer's rejected search the
form within the piece, at the same factors, until that form is rejected
in turn), with the MLP of the same sizes and ``early_stopping=True`` as a
reference, on validation splits of the training rows of every shared
dataset (``bench_growth.validation_split``: 75/25, stratified for
classification, at most ``--rows`` rows, 10,000 unless given, split seeds
``--seeds``), 100 units per layer, 1 to 3 hidden layers (``--depths``).
Nothing here reads a test set.  Scores are validation accuracy (R^2 for
regression); times are fit seconds, side by side in one run; changes are
against ``"never"``.
"""

from _common import report, table
from bench_growth import fit, grid_arguments, pair_summary, split_setting, validation_cells
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions

#: label -> local_targets; the first is the base of the comparison, the last the default
VARIANTS = {
    "global (previous)": "never",
    "within the piece": "always",
    "after a rejection (default)": "after-rejection",
}


def options(mode):
    return lambda **kwargs: SolverOptions(**{**kwargs, "local_targets": mode})


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2,3", seeds=True)
    rows, cells = [], []  # cells: (dataset, depth, [score, s, iterations] per form, the MLP's)
    for name, seed, depth, (Xa, Xv, ya, yv, reg) in validation_cells(
        names, rows_cap, seeds, depths
    ):
        A = ADMMRegressor if reg else ADMMClassifier
        M = MLPRegressor if reg else MLPClassifier
        out = [
            fit(A((100,) * depth, random_state=0), Xa, ya, Xv, yv, options(v))
            for v in VARIANTS.values()
        ]
        mlp = M(hidden_layer_sizes=(100,) * depth, early_stopping=True, random_state=0)
        mlp = fit(mlp, Xa, ya, Xv, yv)
        cells.append((name, depth, out, mlp))
        row = [name, seed, depth, f"{mlp[0]:.4f}", *[f"{o[0]:.4f}" for o in out]]
        row += [f"{o[0] - out[0][0]:+.4f}" for o in out[1:]] + [f"{out[-1][0] - mlp[0]:+.4f}"]
        row += [f"{o[1]:.1f}" for o in out] + [f"{out[-1][1] / mlp[1]:.2f}"]
        row += [o[2] for o in out]
        print(*row, flush=True)
        rows.append(row)
    labels = list(VARIANTS)
    headers = ["dataset", "split seed", "hidden layers", "MLP", *labels]
    headers += [f"{v}: change" for v in labels[1:]] + ["default - MLP"]
    headers += [f"{v} s" for v in labels] + ["default s / MLP s"]
    headers += [f"{v} iterations" for v in labels]
    sections = [
        (
            None,
            split_setting(rows_cap, seeds, depths) + "scores are validation accuracy "
            "(R^2 for regression); times are fit seconds in the same run; change = the "
            "form minus the global eq. (7); MLP = MLPClassifier / MLPRegressor "
            "(early_stopping=True), the same sizes.",
        ),
        ("Validation scores", table(headers, rows)),
    ]
    for k in (2, 1):
        pairs = [(name, depth, out[0], out[k]) for name, depth, out, _ in cells]
        summary_headers, summary = pair_summary(pairs, depths, iterations=True)
        sections.append(
            (f"{labels[k]} against the global eq. (7)", table(summary_headers, summary))
        )
    within = [
        [v, len(cells), sum(o[k][0] >= m[0] - 0.01 for *_, o, m in cells)]
        for k, v in enumerate(labels)
    ]
    sections.append(
        ("Within 1 point of the MLP (cells)", table(["form", "cells", "within 1 point"], within))
    )
    report("local_targets", "The hidden targets' eq. (7), on validation splits", sections)


if __name__ == "__main__":
    main()
