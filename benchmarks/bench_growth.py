"""Growth of deep networks (issue 14), chosen on validation splits of the training rows.

For two or more hidden layers the default solver first fits the network with
the first hidden layer alone; with a validation split, then each further
layer as the one hidden layer of a network on the standardised features of
the layers below (layer-wise stages, kept while they beat the stack below on
the held-out rows); the deepest stack gets any missing layers inserted as
identities (``skadmm._growth``; Net2Net), and without a validation split the
full network is fitted from there (``SolverOptions.full_stage``, whose own
ablation is ``bench_full_stage.py``).  This benchmark is the ablation that
chose the stages, and it never reads a
test set: per
dataset of ``skadmm.datasets.DATASETS`` the training rows (capped at
``--rows``, default 10000) are split 75/25 (stratified for classification,
seed 0), scaled on the 75 %, and every model is fitted on the 75 % and scored
on the 25 %.  Rows: the default ``ADMMClassifier`` / ``ADMMRegressor``, the
same with identities only (``SolverOptions(layerwise=False)``: the first
layer, then the full network from identities above it), with growth off
(``SolverOptions(growth=False)``: the deep network from a random forward
pass, the one before), and ``MLPClassifier`` /
``MLPRegressor`` with ``early_stopping=True``, all with ``--depths`` hidden
layers of 100 units (default 1,2,3), fitted one after the other in this
process.  Columns: validation score (accuracy, R^2), the default's gap to the
MLP and to the default with one layer fewer, fit-time ratios to the MLP and
iterations.
"""

import time
import warnings

import numpy as np
from _common import maybe_rerun_without_openblas_env, parser, report, table
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import skadmm._base as base
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._solver import SolverOptions
from skadmm.datasets import DATASETS, load_dataset


def validation_split(name, rows, seed=0):
    """The first ``rows`` training rows of ``name``, split 75/25 (stratified for
    classification) with ``seed``, scaled on the 75 %; the regression target too."""
    X, _, y, _ = load_dataset(name)  # the training rows only
    if hasattr(X, "toarray"):
        X = X.toarray()
    X, y = X[:rows], y[:rows]
    reg = DATASETS[name][1] == "regression"
    Xa, Xv, ya, yv = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=None if reg else y
    )
    sc = StandardScaler().fit(Xa)
    Xa, Xv = sc.transform(Xa), sc.transform(Xv)
    if reg:
        mu, sd = ya.mean(), ya.std()
        ya, yv = (ya - mu) / sd, (yv - mu) / sd
    return Xa, Xv, ya, yv, reg


def rows_setting(rows_cap):
    """How many training rows a validation-split table used, in words."""
    return "every training row" if rows_cap is None else f"at most {rows_cap} rows"


def split_setting(rows_cap, seeds, depths):
    """The opening words of a validation-split table's description."""
    return (
        f"validation splits of the training rows (75/25; {rows_setting(rows_cap)}; split "
        f"seeds {seeds}), 100 units per hidden layer, depths {depths}; "
    )


def validation_cells(names, rows_cap, seeds, depths, classification=False):
    """``(name, seed, depth, (Xa, Xv, ya, yv, reg))`` for every cell of a validation-split
    grid, each split drawn once per dataset and seed (``classification``: those only)."""
    for name in names:
        if classification and DATASETS[name][1] == "regression":
            continue
        for seed in seeds:
            split = validation_split(name, rows_cap, seed)
            for depth in depths:
                yield name, seed, depth, split


def no_growth(**kwargs):
    return SolverOptions(**{**kwargs, "growth": False})


def fit(model, Xa, ya, Xv, yv, options=None):
    base.SolverOptions = options or SolverOptions
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t = time.perf_counter()
            model.fit(Xa, ya)
            t = time.perf_counter() - t
    finally:
        base.SolverOptions = SolverOptions
    return model.score(Xv, yv), t, model.n_iter_


def grid_arguments(doc, depths, seeds=False, rows=10000):
    """The command line of the validation-split benchmarks: (rows cap, depths, datasets),
    and with ``seeds`` the split seeds (``--seeds``, default 0,1,2; ``--quick``: 0) last.
    ``rows``: the default of ``--rows`` (None: every training row); ``--quick``: 3,000."""
    p = parser(doc.splitlines()[0])
    if seeds:
        p.add_argument("--seeds", default=None, help="comma-separated split seeds (0,1,2)")
    p.add_argument("--rows", type=int, default=rows, help="training rows per dataset (cap)")
    p.add_argument("--depths", default=depths, help="comma-separated hidden-layer counts")
    p.add_argument("--datasets", default=None, help="comma-separated (default: all)")
    args = p.parse_args()
    maybe_rerun_without_openblas_env(args)
    rows_cap = 3000 if args.quick else args.rows
    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    out = rows_cap, [int(d) for d in args.depths.split(",")], names
    if seeds:
        out += ([int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")],)
    return out


def pair_summary(cells, depths, iterations=False):
    """The summary of a two-way validation-split comparison: ``(headers, rows)``.

    ``cells``: ``(name, depth, base, other)`` with ``base`` and ``other`` each
    ``(score, seconds, iterations)``.  One row for all cells, one per depth and
    one per dataset: the mean, worst and best change of ``other`` against
    ``base``, the cells better / worse by more than half a point, the ratio of
    the summed seconds and, with ``iterations``, of the mean iterations.
    """
    groups = [("all", cells)]
    groups += [
        (f"{d} hidden layer{'s' if d > 1 else ''}", [c for c in cells if c[1] == d])
        for d in depths
    ]
    groups += [(n, [c for c in cells if c[0] == n]) for n in dict.fromkeys(c[0] for c in cells)]
    rows = []
    for label, sel in groups:
        d = np.array([c[3][0] - c[2][0] for c in sel])
        ratio = sum(c[3][1] for c in sel) / sum(c[2][1] for c in sel)
        row = [label, len(sel), f"{d.mean():+.4f}", f"{d.min():+.4f}", f"{d.max():+.4f}"]
        row += [f"{int((d > 0.005).sum())} / {int((d < -0.005).sum())}", f"{ratio:.2f}"]
        if iterations:
            row.append(f"{np.mean([c[3][2] for c in sel]) / np.mean([c[2][2] for c in sel]):.2f}")
        rows.append(row)
    headers = ["cells", "n", "mean change", "worst", "best", "better / worse by > 0.5 point"]
    headers += ["time ratio (all fits' seconds)"]
    if iterations:
        headers.append("iterations ratio (means)")
    return headers, rows


def pair_sections(cells, depths, title):
    """One section per compared variant: ``cells`` maps each variant to its
    :func:`pair_summary` cells (with iterations), ``title(variant)`` names its section."""
    sections = []
    for variant, pairs in cells.items():
        headers, rows = pair_summary(pairs, depths, iterations=True)
        sections.append((title(variant), table(headers, rows)))
    return sections


#: the deep-network starts measured beside the default: label -> options factory
VARIANTS = {
    "identities only": lambda **kw: SolverOptions(**{**kw, "layerwise": False}),
    "no growth": no_growth,
}


def main():
    rows_cap, depths, names = grid_arguments(__doc__, "1,2,3")
    rows, summary = [], {"within 1 point": 0, "no slower": 0, "not below fewer layers": 0}
    n_cells = n_deep = 0
    for name in names:
        Xa, Xv, ya, yv, reg = validation_split(name, rows_cap)
        A = ADMMRegressor if reg else ADMMClassifier
        M = MLPRegressor if reg else MLPClassifier
        previous = None
        for depth in depths:
            hidden = (100,) * depth
            mlp = M(hidden_layer_sizes=hidden, early_stopping=True, random_state=0)
            mlp = fit(mlp, Xa, ya, Xv, yv)
            grown = fit(A(hidden_layer_sizes=hidden, random_state=0), Xa, ya, Xv, yv)
            others = {}
            for label, options in VARIANTS.items():
                if depth > 1:
                    model = A(hidden_layer_sizes=hidden, random_state=0)
                    others[label] = fit(model, Xa, ya, Xv, yv, options)
            print(name, depth, "MLP", mlp, "default", grown, others, flush=True)
            gap = grown[0] - mlp[0]
            below = None if previous is None else grown[0] - previous
            n_cells += 1
            summary["within 1 point"] += gap >= -0.01
            summary["no slower"] += grown[1] <= mlp[1]
            if below is not None:
                n_deep += 1
                summary["not below fewer layers"] += below >= -0.005
            row = [name, depth, len(Xa), f"{mlp[0]:.4f}", f"{grown[0]:.4f}"]
            row += [f"{others[k][0]:.4f}" if others else "" for k in VARIANTS]
            row += [f"{gap:+.4f}", "" if below is None else f"{below:+.4f}"]
            row += [f"{grown[1] / mlp[1]:.2f}"]
            row += [f"{others[k][1] / mlp[1]:.2f}" if others else "" for k in VARIANTS]
            row += [f"{mlp[2]}", f"{grown[2]}"]
            row += [f"{others[k][2]}" if others else "" for k in VARIANTS]
            rows.append(row)
            previous = grown[0]
    headers = ["dataset", "hidden layers", "fit rows", "MLP", "default (layer-wise)"]
    headers += list(VARIANTS) + ["default - MLP", "default - one layer fewer"]
    headers += ["time ratio default / MLP"] + [f"time ratio {k} / MLP" for k in VARIANTS]
    headers += ["MLP epochs", "default iterations"] + [f"{k} iterations" for k in VARIANTS]
    counts = (
        f"default within 1 point of the MLP: {summary['within 1 point']} of {n_cells} cells; "
        f"no slower than the MLP: {summary['no slower']} of {n_cells}; not more than 0.5 point "
        f"below itself with one layer fewer: {summary['not below fewer layers']} of {n_deep}."
    )
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, seed 0; at most {rows_cap} rows), "
            f"100 units per hidden layer, depths {depths}; scores are validation accuracy "
            "(R^2 for regression); time ratios are fit seconds over the MLP's in the same run.",
        ),
        ("Validation scores", table(headers, rows)),
        ("Against the targets", counts),
    ]
    report("growth", "Growth of deep networks, on validation splits", sections)


if __name__ == "__main__":
    main()
