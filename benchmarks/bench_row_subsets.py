"""More weight updates per pass (issue 14's "row subsets"), measured and rejected.

The default solver takes one step per hidden layer per pass over the rows:
the closed-form targets (eq. (6), (7)) and the least-squares step of every
row, then a relaxation factor chosen by the exact objective on every row.
Backprop's minibatches take many steps per pass.  This benchmark measures
the same sub-steps on *row subsets*: the rows are cut into ``S`` subsets of
whole compute blocks (block ``k`` in subset ``k mod S``, a systematic
sample; the benchmark runs serially, so local and global block numbers are
the same), with ``S = n // (8 * (w + 1))``, ``w`` the widest input of a
least-squares solve (any layer's, the output layer's included), at most one
subset per block: 8 rows per unknown on average (a subset holding the short
last block has fewer).  One pass takes ``S`` steps:

* ``same rows``: subset ``j``'s state is brought forward (a forward pass of
  its rows, the output layer refitted on them), its targets give each layer
  its step (refreshed once a layer below has moved, as in the default), and
  the relaxation search chooses the factor on the same rows;
* ``next rows judge``: the step of subset ``j`` is chosen (relaxation
  factor, output-layer refit) on subset ``j + 1``'s rows, so the factor is
  not chosen on the rows that made the step (no refreshed steps: the
  judge's rows hold an older pass's targets).

After a pass every row is brought forward and the output layer refitted on
all rows, so that the loop's diagnostics, validation score and the search's
stopping rule (``search_tol``) see the whole objective as for the default.
Per-sample work stays communication-free; a pass costs the default's
reductions once per subset, plus one per subset step for its output-layer
refit and one for the refit on all rows.  The heavy ball's move
``a_{l-1} U_l`` is recomputed per subset (its rows' stored one belongs to
an older update).  A grown fit's stage whose rows make one subset runs the
default's own step (so Fashion-MNIST's first stage, 784 inputs, does).

Both are judged against the default on validation splits of the training
rows (``bench_growth.validation_split``: 75/25, stratified, at most 10,000
rows, split seeds ``--seeds``), 100 units per layer, never on a test set.
A cell where no stage had more than one subset is the default itself: it is
listed, marked, and left out of the summary.
"""

import warnings

import numpy as np
from _common import report, table
from bench_growth import grid_arguments, split_setting, validation_split
from sklearn.exceptions import ConvergenceWarning

import skadmm._solver._search as search_module
from skadmm import ADMMClassifier, ADMMRegressor
from skadmm import _kernels as K
from skadmm._solver._checks import wsum
from skadmm._solver._rule import StepResult

#: rows per unknown of the widest least-squares solve, per subset
ROWS_PER_INPUT = 8
DEFAULT_STEP = search_module.Search.step
DEFAULT_CANDIDATES = search_module.Search.candidates


def n_subsets(search):
    st = search.state
    n = sum(r.stop - r.start for r in st.blocks)
    return min(len(st.blocks), max(1, n // (ROWS_PER_INPUT * (max(st.sizes[:-1]) + 1))))


#: whether any stage of the current fit took more than one subset
USED = [False]


def bring_forward(search, sq_targets):
    """The active rows' state from the current weights, their output layer and objective."""
    st, s = search.state, search.search
    s.sq_targets = sq_targets
    G, R = st.reduce(
        lambda k, rows: search.readout_sums(st.forward(rows, 0), rows), search.readout_shapes
    )
    search.fit_readout(G, R)


def targets_constant(search):
    """``sum w ||y||^2`` of the active rows (one reduction)."""
    st = search.state
    parts = [
        np.array([wsum(np.square(st.Y[rows], dtype=np.float64), st.column_weight(rows))])
        for rows in st.blocks
    ]
    return float(st.backend.reduce_parts(parts, (1,))[0])


def candidates(self, rows, i, omegas, step, prev):
    """The default's, with the first layer's heavy-ball move ``a_0 U_1`` recomputed on a
    subset (the default keeps it from the last accepted move, which was another
    subset's rows; the layers above recompute theirs anyway)."""
    if getattr(self, "in_subsets", False) and prev is not None and i == 0:
        self.search.previous_move[0][rows] = K.linear(self.state.a[0][rows], *prev)
    return DEFAULT_CANDIDATES(self, rows, i, omegas, step, prev)


def subset_step(judge_on_next):
    def step(self, iteration):
        st, s, opts = self.state, self.search, self.options
        S = n_subsets(self)
        if S <= 1:
            return DEFAULT_STEP(self, iteration)
        USED[0] = True
        if judge_on_next:
            self.restep = False  # the judge's rows hold an older pass's targets
        blocks, sums, gram = st.blocks, iteration.sums, self.gram0
        constants = self.__dict__.setdefault("subset_constants", {})
        if s.sq_targets is None:
            s.omega = [opts.relaxation_start] * (st.n_layers - 1)
            s.local = self.fresh_local()  # as Search.begin sets them
            constants["all"] = targets_constant(self)
            bring_forward(self, constants["all"])
        start = s.objective

        def use(j):
            j %= S
            idx = range(j, len(blocks), S)
            st.blocks, iteration.sums = [blocks[k] for k in idx], [sums[k] for k in idx]
            if j not in constants:
                constants[j] = (st.input_gram(), targets_constant(self))
            self.gram0 = constants[j][0]
            bring_forward(self, constants[j][1])

        self.in_subsets = True
        try:
            if judge_on_next:
                use(0)
                steps = self.hidden_steps(iteration)
                for j in range(1, S + 1):
                    use(j)
                    chosen = self.relax(steps, iteration)
                    if j < S:
                        steps = self.hidden_steps(iteration)
            else:
                for j in range(S):
                    use(j)
                    chosen = self.relax(self.hidden_steps(iteration), iteration)
        finally:
            st.blocks, iteration.sums, self.gram0 = blocks, sums, gram
            self.in_subsets = False
        bring_forward(self, constants["all"])
        if s.phase_start is None:
            s.phase_start = start
        done = self.end(start, chosen, iteration)
        stop = "the search's phases are spent" if done else None
        return StepResult(stop, s.squared_from == iteration.number + 1)

    return step


VARIANTS = {"same rows": subset_step(False), "next rows judge": subset_step(True)}


def fit(model, Xa, ya, Xv, yv, variant):
    cls = search_module.Search
    USED[0] = False
    if variant is not None:
        cls.step, cls.candidates = VARIANTS[variant], candidates
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xa, ya)
    finally:
        cls.step, cls.candidates = DEFAULT_STEP, DEFAULT_CANDIDATES
    return model.score(Xv, yv), model.n_iter_, USED[0]


def main():
    rows_cap, depths, names, seeds = grid_arguments(__doc__, "1,2", seeds=True)
    rows, changes = [], {v: [] for v in VARIANTS}
    for name in names:
        for seed in seeds:
            Xa, Xv, ya, yv, reg = validation_split(name, rows_cap, seed)
            A = ADMMRegressor if reg else ADMMClassifier
            for depth in depths:
                hidden = (100,) * depth
                base = fit(A(hidden, random_state=0), Xa, ya, Xv, yv, None)
                row = [name, seed, depth, len(Xa), f"{base[0]:.4f}"]
                iters, used = [f"{base[1]}"], False
                for variant in VARIANTS:
                    res = fit(A(hidden, random_state=0), Xa, ya, Xv, yv, variant)
                    used = used or res[2]
                    if res[2]:
                        changes[variant].append(res[0] - base[0])
                    row.append(f"{res[0]:.4f} ({res[0] - base[0]:+.4f})")
                    iters.append(f"{res[1]}")
                if not used:
                    row[0] += " (no subsets)"
                print(*row, *iters, flush=True)
                rows.append(row + iters)
    headers = ["dataset", "split seed", "hidden layers", "fit rows", "default"]
    headers += list(VARIANTS) + ["default iterations"] + [f"{v} iterations" for v in VARIANTS]
    summary = []
    for variant, d in changes.items():
        d = np.array(d)
        if not d.size:  # no cell had two subsets (small sets, one chunk of rows)
            summary.append([variant, 0, "", "", "", ""])
            continue
        summary.append(
            [
                variant,
                len(d),
                f"{d.mean():+.4f}",
                f"{d.min():+.4f}",
                f"{d.max():+.4f}",
                f"{int((d > 0.005).sum())} / {int((d < -0.005).sum())}",
            ]
        )
    sections = [
        (
            None,
            split_setting(rows_cap, seeds, depths) + "scores are "
            "validation accuracy (R^2 for regression), in brackets the change against the "
            "default; iterations are passes over the rows (a subset pass takes one step per "
            "subset).  No times: this table chose on scores, and was run beside another "
            "benchmark.",
        ),
        ("Validation scores", table(headers, rows)),
        (
            "Change against the default (one step per pass)",
            table(
                ["variant", "cells", "mean", "worst", "best", "better / worse by > 0.5 point"],
                summary,
            ),
        ),
    ]
    report("row_subsets", "Row subsets: several steps per pass, on validation splits", sections)


if __name__ == "__main__":
    main()
