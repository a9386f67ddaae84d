"""The first layer's hinge phase: both phases (the default) or the squared targets only.

With early stopping, a classifier's first (or only) hidden layer is fitted
in two phases (``SolverOptions.search_targets="then-squared"``): hidden targets from the
hinge output update until the search's rule or early stopping's patience
ends the phase, then from the squared output update, the searched
objective's own.  The layer-wise stages of a deep fit already run the
second phase only (``layerwise_targets="squared"``,
``results/stage_phases.md``).  In one fit on krkopt (all 22,444 training
rows, standardised, ``random_state=0``, one hidden layer of 100 units,
``search_tol=None``, so that early stopping's patience ends the phase)
every candidate of the hinge phase was rejected: relaxation factor 0 for
the first 11 iterations, then 2048 at the first squared iteration; at the
default ``search_tol`` such a phase ends after 3 rejections.  (That was with
eq. (7)'s global minimiser only; since a rejected step moves the layer to
the targets within the pieces, ``bench_step_direction.py``, the hinge phase
accepts steps there too.)
This benchmark measures, side by side, the default against one phase on the
squared targets (``search_targets="squared"``) for the whole fit.

Run on validation splits of the training rows (``bench_growth.validation_split``:
75/25, stratified, at most ``--rows`` rows, 10,000 unless given, split seeds
``--seeds``), 100 units per layer, 1 and 2 hidden layers, every
classification dataset; nothing here reads a test set.  Scores are
validation accuracy; times are fit seconds, side by side in one run;
changes are against the default.
"""

from _common import report, table
from bench_growth import fit, grid_arguments, pair_summary, split_setting, validation_cells

from skadmm import ADMMClassifier
from skadmm._solver import SolverOptions

VARIANTS = {"both phases (default)": "then-squared", "squared only": "squared"}


def options(targets):
    return lambda **kwargs: SolverOptions(**{**kwargs, "search_targets": targets})


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True)
    rows, cells = [], []
    for name, seed, depth, (Xa, Xv, ya, yv, _) in validation_cells(
        names, rows_cap, seeds, depths, classification=True
    ):
        out = [
            fit(ADMMClassifier((100,) * depth, random_state=0), Xa, ya, Xv, yv, options(v))
            for v in VARIANTS.values()
        ]
        cells.append((name, depth, *out))
        row = [name, seed, depth, *[f"{o[0]:.4f}" for o in out]]
        row += [f"{out[1][0] - out[0][0]:+.4f}"]
        row += [f"{o[1]:.1f}" for o in out] + [o[2] for o in out]
        print(*row, flush=True)
        rows.append(row)
    summary_headers, summary = pair_summary(cells, depths, iterations=True)
    headers = ["dataset", "split seed", "hidden layers", *VARIANTS, "change"]
    headers += [f"{v} s" for v in VARIANTS] + [f"{v} iterations" for v in VARIANTS]
    sections = [
        (
            None,
            split_setting(rows_cap, seeds, depths) + "scores are "
            "validation accuracy; times are fit seconds in the same run; change = squared "
            "only minus the default.",
        ),
        ("Validation accuracy", table(headers, rows)),
        (
            "Squared only against both phases",
            table(summary_headers, summary),
        ),
    ]
    report("first_phase", "The first layer's hinge phase, on validation splits", sections)


if __name__ == "__main__":
    main()
