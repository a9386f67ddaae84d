"""A prototype, not in the library: the hidden layers trained on the log-loss by IRLS targets.

The default classifier trains its hidden layers on the least-squares fit of
the 0/1 class indicators (after a phase of hinge targets) and fits its
output layer to the log-loss only afterwards; ``bench_first_layer.py``
shows that a first layer fitted further on the log-loss is what nursery's
and ijcnn1's deep gaps lack.  This script measures one way to get there
with the default's own closed-form steps (iteratively reweighted least
squares): before every iteration of the search but the first of each stage
(which fits the 0/1 indicators, unweighted), the targets and row weights it
fits become the log-loss's second-order model at the current
logits ``Z = F W_L + c_L``:

* two classes (one logit): ``p = sigmoid(Z)``, weight ``b = p (1 - p)``:
  Newton's (IRLS) exact curvature;
* K classes: ``p = softmax(Z)`` and one weight per row, ``b = 1 - sum p^2``
  (the trace of the softmax's curvature ``diag p - p p^T``, an upper bound
  of its largest eigenvalue), where the exact curvature would need one
  Gram matrix per class;

``b`` clipped to ``[0.01, 0.25]`` (two classes) or ``[0.01, 0.5]``
(Böhning's bound), the targets ``T = Z + (Y - p) / b``, the row weights the
sample weights times ``b``.  The output layer is refitted to them (variable
projection), the hidden targets come from the squared output update (towards
``T`` from the second iteration; no hinge phase), and the search's own
stopping rule is off (``search_tol=None``: its objective changes with
``T``), so early stopping on the held-out rows and ``max_iter`` end the
fit.  The classifier's output layer is then fitted to the log-loss as
always.  That is the variant *from the start*.  The variant *third phase*
keeps the default's phases (the hinge targets, then the squared ones; a
layer-wise stage: the squared ones) and, where the default would end the
squared phase (by the search's own rule, or by the held-out rows'
patience), runs a third on the IRLS targets, the search's state reset as
at the default's switch, ending after 3 stalled iterations in a row (its
objective changes with ``T``, so the progress rule has no reference), by
the held-out rows or by ``max_iter``; the held-out rows choose the
returned iterate among all the phases', as always.  Each comes twice: as
described, and *ridged*: while the IRLS targets run, the output layer's
ridge is ``RIDGE_RELATIVE`` (1e-3) times the mean diagonal of the
IRLS-weighted Gram matrix of its features, instead of ``alpha``, which is
negligible next to that Gram (the model's curvature ``b`` reaches its floor
on the rows a fit separates, whose targets ``(Y - p) / b`` then lie up to
100 away; the ridge holds the output layer back from them; see
:func:`refresh`).  The ridge is applied by scaling the targets and row
weights, which also multiplies eq. (6)'s ``beta`` for the top hidden layer
by the same factor (its activation update reads the scaled output layer
and targets): the ridged variants change both, not isolated.  Each is installed for
the fit by :func:`fitted`, which replaces ``Search.begin`` and
``Loop.run``, and the estimators' ``SolverOptions``
(for ``search_targets="squared"`` and ``slow_tol=None``; from the start)
or the search's ``_switch_targets`` (third phase), and restores them
after.

Validation splits of the training rows of every classification dataset
(``bench_growth.validation_split``: 75/25, stratified; all the training
rows unless ``--rows`` caps them; split seeds ``--seeds``, default 0, 1,
2, each also ``random_state``), ``--depths`` hidden layers of 100 units
(default 1,2; every stage of a deep fit uses the variant; ``--quick``:
at most 3,000 rows, split seed 0).  While the IRLS targets run, the loop's
``loss_curve_`` is measured against them, in the ridged variants at their
scale (no table here uses it).  Nothing
here reads a test set.
"""

import numpy as np
from _common import report, table
from bench_growth import fit, grid_arguments, pair_sections, rows_setting, validation_cells

import skadmm._solver._loop as loop
import skadmm._solver._search as search_module
from skadmm import ADMMClassifier
from skadmm import _kernels as K
from skadmm._solver import SolverOptions
from skadmm._solver._search import Search

FLOOR = 0.01
#: the ridged variants' output-layer ridge, relative to the mean diagonal of the
#: IRLS-weighted Gram matrix of its features
RIDGE_RELATIVE = 1e-3
RIDGE = [0.0]  # the ridge of the fit under way (0: alpha)


def refresh(search):
    """Replace the state's targets and row weights by the log-loss's IRLS model at the
    current logits, and refit the output layer to them (sets the search's objective).

    With ``RIDGE[0] > 0`` (the *ridged* variants) the output layer's ridge during the
    IRLS iterations is ``RIDGE[0]`` times the mean diagonal of the IRLS-weighted Gram
    matrix of its features (scale-free), instead of ``alpha``: the targets are
    multiplied by ``sqrt(kappa)`` and the row weights divided by ``kappa``, which leaves
    the fit's data term as it is and multiplies the ridge by ``kappa`` (and eq. (6)'s
    ``beta`` for the top hidden layer, whose activation update reads the scaled output
    layer and targets); the output
    layer the state holds then reads logits times ``sqrt(kappa)``
    (``search.irls_scale``), which :func:`restoring_run` undoes for validation, the
    callbacks and the returned state."""
    st, s = search.state, search.search
    L = st.n_layers
    if not hasattr(search, "indicators"):
        search.indicators = st.Y.copy()
        search.sample_weight = None if st.sw is None else st.sw.copy()
        st.sw = np.ones(st.n_rows) if st.sw is None else st.sw.copy()
        search.irls_scale = 1.0
    scale = search.irls_scale
    F = st.a[L - 1]

    def block(k, rows):
        Z = K.linear(F[rows], st.W[-1], st.c[-1]).astype(np.float64) / scale
        Y = search.indicators[rows]
        if Z.shape[1] == 1:
            P = 1.0 / (1.0 + np.exp(-Z))
            b, cap = (P * (1.0 - P))[:, 0], 0.25
        else:
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            P = E / E.sum(axis=1, keepdims=True)
            b, cap = 1.0 - np.sum(P * P, axis=1), 0.5
        b = np.clip(b, FLOOR, cap)
        st.Y[rows] = Z + (Y - P) / b[:, None]
        sw = search.sample_weight
        st.sw[rows] = b if sw is None else b * sw[rows]

    st.map(block)
    if RIDGE[0] > 0:  # the mean diagonal of the weighted Gram, over the ridge alpha
        parts = [
            np.array([np.sum(st.sw[r] * np.sum(np.square(F[r], dtype=np.float64), axis=1))])
            for r in st.blocks
        ]
        mean_diagonal = float(st.backend.reduce_parts(parts, (1,))[0]) / F.shape[1]
        kappa = RIDGE[0] * mean_diagonal / search.options.alpha
        search.irls_scale = np.sqrt(kappa)

        def rescale(k, rows):
            st.Y[rows] *= search.irls_scale
            st.sw[rows] /= kappa

        st.map(rescale)
    search.gram0 = st.input_gram()  # the first layer's Gram holds the row weights
    parts = [
        np.array([np.sum(st.sw[r] * np.sum(np.square(st.Y[r], dtype=np.float64), axis=1))])
        for r in st.blocks
    ]
    s.sq_targets = float(st.backend.reduce_parts(parts, (1,))[0])
    G, R = st.reduce(lambda k, rows: search.readout_sums(F[rows], rows), search.readout_shapes)
    search.fit_readout(G, R)


def irls_begin(search, it, begin=Search.begin):
    if search.search.sq_targets is not None:  # after the first iteration's set-up
        refresh(search)
    return begin(search, it)


def third_phase_begin(search, it, begin=Search.begin):
    if getattr(search.search, "irls", False):
        refresh(search)
        # the objective changes with the targets: a phase ends on 3 stalls in a row
        search.search.phase_start = None
    return begin(search, it)


def third_phase_switch(search, it, loss, options, local, switch=search_module._switch_targets):
    """The default's phase switch; once the squared phase is spent, a third phase on the
    IRLS targets (the search's state reset as at the default's switch) instead of the end."""
    if switch(search, it, loss, options, local):
        return True
    if not search.squared or getattr(search, "irls", False):
        return False
    search.irls, search.slow, search.phase_start = True, 0, None
    if search.previous is not None:
        search.previous = [None] * len(search.previous)
    search.omega = [options.relaxation_start] * len(search.omega)
    search.local = list(local)
    return True


def restoring_run(self, progress, result, run=loop.Loop.run):
    """The loop, with validation and callbacks reading the output layer's logits at their
    own scale (the ridged variants); then the indicators, sample weights and that scale
    back for the output layer's fit."""
    own = self.view

    def view(W, c):
        scale = getattr(self.rule, "irls_scale", 1.0)
        if scale == 1.0:
            return own(W, c)
        return own(
            W[:-1] + [(W[-1] / scale).astype(W[-1].dtype)],
            c[:-1] + [(c[-1] / scale).astype(c[-1].dtype)],
        )

    self.view = view
    try:
        return run(self, progress, result)
    finally:
        rule = self.rule
        if hasattr(rule, "indicators"):
            st, scale = rule.state, rule.irls_scale
            st.W[-1] = (st.W[-1] / scale).astype(st.W[-1].dtype)
            st.c[-1] = (st.c[-1] / scale).astype(st.c[-1].dtype)
            st.Y[...] = rule.indicators
            st.sw = rule.sample_weight


def irls_options(**kwargs):
    return SolverOptions(**{**kwargs, "search_targets": "squared", "slow_tol": None})


def fitted(model, Xa, ya, Xv, yv, variant):
    """(training accuracy, validation accuracy, seconds, iterations) of ``model`` with the
    IRLS targets of ``variant`` (None: the default)."""
    saved = Search.begin, loop.Loop.run, search_module._switch_targets
    phases = None if variant is None else variant.removesuffix(", ridged")
    RIDGE[0] = RIDGE_RELATIVE if variant and variant.endswith(", ridged") else 0.0
    if phases == "from the start":
        Search.begin, loop.Loop.run = irls_begin, restoring_run
    elif phases == "third phase":
        Search.begin, loop.Loop.run = third_phase_begin, restoring_run
        search_module._switch_targets = third_phase_switch
    try:  # bench_growth.fit sets the estimators' SolverOptions and restores it
        options = irls_options if phases == "from the start" else None
        score, t, n_iter = fit(model, Xa, ya, Xv, yv, options)
    finally:
        Search.begin, loop.Loop.run, search_module._switch_targets = saved
        RIDGE[0] = 0.0
    return model.score(Xa, ya), score, t, n_iter


VARIANTS = (
    "from the start",
    "third phase",
    "from the start, ridged",
    "third phase, ridged",
)


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True, rows=None)
    rows, cells = [], {v: [] for v in VARIANTS}
    for name, seed, depth, (Xa, Xv, ya, yv, _) in validation_cells(
        names, rows_cap, seeds, depths, classification=True
    ):
        hidden = (100,) * depth
        out = {
            v: fitted(ADMMClassifier(hidden, random_state=seed), Xa, ya, Xv, yv, v)
            for v in (None, *VARIANTS)
        }
        d = out[None]
        row = [name, len(np.unique(ya)), seed, depth, f"{d[0]:.4f}", f"{d[1]:.4f}"]
        for v in VARIANTS:
            row += [f"{out[v][0]:.4f}", f"{out[v][1]:.4f}", f"{out[v][1] - d[1]:+.4f}"]
        row += [f"{out[v][2]:.1f}" for v in (None, *VARIANTS)]
        row += [out[v][3] for v in (None, *VARIANTS)]
        print(*row, flush=True)
        rows.append(row)
        group = "two classes" if len(np.unique(ya)) == 2 else "more classes"
        for v in VARIANTS:
            cells[v].append((f"{name} ({group})", depth, d[1:], out[v][1:]))
    headers = ["dataset", "classes", "seed", "hidden layers", "default train"]
    headers += ["default validation"]
    for v in VARIANTS:
        headers += [f"IRLS {v}: train", f"{v}: validation", f"{v} - default"]
    headers += [f"{v or 'default'} s" for v in (None, *VARIANTS)]
    headers += [f"{v or 'default'} iterations" for v in (None, *VARIANTS)]
    rows_text = rows_setting(rows_cap)
    sections = [
        (
            None,
            f"validation splits of the training rows (75/25, stratified; {rows_text}; "
            f"split seeds {seeds}, also random_state), 100 units per hidden layer, depths "
            f"{depths}; accuracies on the training (75 %) and validation (25 %) rows; "
            "default = ADMMClassifier's default; IRLS from the start / third phase = the "
            "same with the prototype's log-loss targets (this script's docstring); seconds "
            "are fit times in this one run.",
        ),
        ("Every fit", table(headers, rows)),
    ]
    sections += pair_sections(cells, depths, lambda v: f"IRLS {v} against the default")
    report("irls_targets", "A prototype: hidden layers trained on the log-loss by IRLS", sections)


if __name__ == "__main__":
    main()
