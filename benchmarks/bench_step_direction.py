"""Is the search's step a descent direction?  The diagnosis behind ``local_targets``.

The default solver's search fits each hidden layer's step to targets from
Algorithm 1's sub-steps (output update, eq. (6), eq. (7)) and accepts a
scaled step only if it lowers its objective (the least-squares fit of the
0/1 class indicators, the output layer refitted; see the user guide).  This
script fits the default ``ADMMClassifier`` with one hidden layer, records
the first layer's weights and step at every iteration (a wrapper around
``Search.relax``), and computes outside skadmm, in plain numpy, the
objective's gradient in the first layer's weights (the output layer at its
optimum: ``X1^T [(-R W2^T) * (z > 0)]``, plus the ridge) and the cosine of
each step with the negative gradient; at the first iteration also the
largest decrease a line search along the negative gradient finds (48 step
sizes, log-spaced).  Four settings: the hinge or the squared targets (the
first is the default's without a validation split; ``Search.target_loss``
patched for the second), with eq. (7)'s global minimiser
(``local_targets="never"``) or its minimiser within each entry's linear
piece (``"always"``).

On one validation split of each of ``--datasets`` (default krkopt, where
the search stalled, nursery, whose inputs are discrete too, and HIGGS and
Fashion-MNIST, whose are not; ``bench_growth.validation_split``: 75/25,
stratified, split seed
0, all training rows unless ``--rows``), the 75 % only,
``early_stopping=False``, ``search_tol=None``, ``--iterations`` (20)
iterations (``n_iter_no_change`` one more), ``random_state=0``, 100
units.  Nothing here reads a test set.
"""

import numpy as np
from _common import maybe_rerun_without_openblas_env, parser, report, table
from bench_growth import fit, validation_split
from bench_local_targets import options

from skadmm import ADMMClassifier
from skadmm._solver._search import Search


def objective_parts(X1, Y, W, alpha):
    """The searched objective at first-layer weights ``W`` (``[W; c]``), its
    pre-activations, the optimal output layer and the residual."""
    z = X1 @ W
    A = np.hstack([np.maximum(z, 0), np.ones((len(z), 1))])
    D = np.ones(A.shape[1])
    D[-1] = 0
    W2 = np.linalg.solve(A.T @ A + alpha * np.diag(D), A.T @ Y)
    R = Y - A @ W2
    obj = 0.5 * np.sum(R**2) + 0.5 * alpha * (np.sum(W2[:-1] ** 2) + np.sum(W[:-1] ** 2))
    return obj, z, W2, R


def gradient(X1, W, z, W2, R, alpha):
    g = X1.T @ (-(R @ W2[:-1].T) * (z > 0))
    g[:-1] += alpha * W[:-1]
    return g


def diagnose(Xa, ya, iterations, targets, mode):
    """``(accepted, n, first objective, last objective, cosines, line-search decrease)``."""
    steps = []
    relax, target_loss = Search.relax, Search.target_loss

    def recording(self, step, it):
        st = self.state
        steps.append((np.vstack([st.W[0], st.c[0]]), np.vstack([step[0][0], step[0][1]])))
        return relax(self, step, it)

    Search.relax = recording
    if targets == "squared":
        Search.target_loss = lambda self: "squared"
    est = ADMMClassifier(
        (100,),
        random_state=0,
        search_tol=None,
        n_iter_no_change=iterations + 1,
        max_iter=iterations,
        early_stopping=False,
    )
    try:  # the timed fit's SolverOptions swap and warning filter; its score is not used
        fit(est, Xa, ya, Xa[:1], ya[:1], options(mode))
    finally:
        Search.relax, Search.target_loss = relax, target_loss
    Y = (ya[:, None] == est.classes_[None, :]).astype(float)
    X1 = np.hstack([Xa, np.ones((len(Xa), 1))])
    alpha = est.alpha
    cosines, decrease = [], None
    for k, (W, S) in enumerate(steps):
        obj, z, W2, R = objective_parts(X1, Y, W, alpha)
        g = gradient(X1, W, z, W2, R, alpha)
        cosines.append(-np.sum(g * S) / (np.linalg.norm(g) * np.linalg.norm(S)))
        if k == 0:
            best = min(
                objective_parts(X1, Y, W - t * g * (np.linalg.norm(W) / np.linalg.norm(g)), alpha)[
                    0
                ]
                for t in 10.0 ** np.arange(-8, 4, 0.25)
            )
            decrease = (obj - min(best, obj)) / obj
    factors = est.relaxation_factors_.ravel()
    curve = est.search_objective_curve_
    return int((factors > 0).sum()), len(factors), curve[0], curve[-1], cosines, decrease


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", default="krkopt,nursery,higgs,fashion_mnist")
    p.add_argument("--rows", type=int, default=None, help="training rows (cap)")
    p.add_argument("--iterations", type=int, default=20)
    args = p.parse_args()
    maybe_rerun_without_openblas_env(args)
    rows = []
    for name in args.datasets.split(","):
        Xa, _, ya, _, _ = validation_split(name, args.rows, 0)
        for targets in ("hinge", "squared"):
            for mode in ("never", "always"):
                acc, n, first, last, cos, dec = diagnose(Xa, ya, args.iterations, targets, mode)
                row = [name, targets, mode, f"{acc} of {n}", f"{first:.1f}", f"{last:.1f}"]
                row += [
                    f"{cos[0]:+.2f}",
                    f"{min(cos):+.2f}",
                    f"{max(cos):+.2f}",
                    f"{cos[-1]:+.2f}",
                ]
                row += [f"{100 * dec:.2f} %"]
                print(*row, flush=True)
                rows.append(row)
    headers = ["dataset", "targets", "local_targets", "searches accepted"]
    headers += ["objective after the first", "after the last", "cosine: first", "least"]
    headers += ["largest", "last", "line search along -gradient, first iteration"]
    sections = [
        (
            None,
            f"one validation split (75 %, seed 0), one hidden layer of 100 units, "
            f"early_stopping=False, search_tol=None, {args.iterations} iterations "
            "(n_iter_no_change one more), "
            "random_state=0; cosine = of the first layer's step with the negative gradient "
            "of the searched objective (computed in numpy outside skadmm); the line search's "
            "column is the largest relative decrease along the negative gradient at the "
            "first iteration's weights.",
        ),
        ("The first layer's step against the gradient", table(headers, rows)),
    ]
    report("step_direction", "Is the search's step a descent direction?", sections)


if __name__ == "__main__":
    main()
