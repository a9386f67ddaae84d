"""Memory: peak resident memory of a fit of the default solver against the theoretical need.

Each N runs in a fresh process (a *synthetic* HIGGS-shaped problem, 28
features, one hidden layer of 300 ReLU units, float64): the peak RSS of the
fit minus the RSS before the data existed, against the theory
``X + per-sample state``.  For the default ``solver="admm"`` that is
``n * (28 + 4 * 300 + 3) * 8`` bytes: ``X``; ``a_1`` and ``z_1``; the
relaxation search's move ``X dW_1`` of the candidates and its heavy-ball
share ``X U_1`` (one hidden width each); ``z_2``, ``lambda`` and the
target.  For ``solver="paper"`` (the labelled reference row) it is
``n * (28 + 2 * 300 + 3) * 8``: Algorithm 1 keeps no search state.  The
per-block temporaries do not grow with N.

Target (issue 17): the default's peak within 1.3x of its theory at large
N; growth linear in N.
"""

import json
import resource
import subprocess
import sys
import warnings

import numpy as np
from _common import maybe_rerun_without_openblas_env, parser, report, savefig, table

D, HIDDEN = 28, 300


def rss_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


#: per-sample float64 values each solver keeps, per row (see the module docstring)
STATE = {"admm": D + 4 * HIDDEN + 3, "paper": D + 2 * HIDDEN + 3}


def child(n, solver):
    from sklearn.exceptions import ConvergenceWarning

    from skadmm import ADMMClassifier

    before = rss_now()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    clf = ADMMClassifier(
        hidden_layer_sizes=(HIDDEN,),
        solver=solver,
        max_iter=2,
        tol=0,
        early_stopping=False,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({"before": before, "peak": peak}))


def main():
    if "--child" in sys.argv:
        i = sys.argv.index("--child")
        return child(int(sys.argv[i + 1]), sys.argv[i + 2])
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    sizes = [50_000, 200_000] if args.quick else [50_000, 200_000, 800_000]
    rows = []
    for solver in ("admm", "paper"):
        for n in sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), solver],
                capture_output=True,
                text=True,
                check=True,
            )
            lines = out.stdout.splitlines()
            res = json.loads(next(ln for ln in lines if ln.startswith("RESULT"))[7:])
            theory = n * STATE[solver] * 8
            used = res["peak"] - res["before"]
            label = "admm (default)" if solver == "admm" else "paper (reference)"
            rows.append((label, n, theory / 2**20, used / 2**20, used / theory))
    default = [r for r in rows if r[0].startswith("admm")]
    _, n, _, used, _ = np.array(default, dtype=object).T
    slope = np.polyfit(np.log(n.astype(float)), np.log(used.astype(float)), 1)[0]
    worst = default[-1][4]
    sections = [
        (
            "Peak RSS of a fit (synthetic HIGGS shape, 28-300-1, float64)",
            table(["solver", "N", "theory MiB", "measured MiB", "measured / theory"], rows),
        ),
        (
            "Targets",
            f"- the default's measured / theory at N={sizes[-1]:,}: {worst:.2f} "
            f"({'met' if worst <= 1.3 else 'NOT met'}, target <= 1.3)\n"
            f"- growth exponent in N (log-log fit): {slope:.2f} (linear = 1)",
        ),
    ]
    report("memory", "Memory of the default solver: peak RSS against theory", sections)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for label in ("admm (default)", "paper (reference)"):
        arr = np.array([r[1:] for r in rows if r[0] == label], dtype=float)
        ax.loglog(arr[:, 0], arr[:, 1], "s--", label=f"theory, {label}")
        ax.loglog(arr[:, 0], arr[:, 2], "o-", label=f"measured, {label}")
    ax.set_xlabel("rows N (synthetic)")
    ax.set_ylabel("MiB")
    ax.legend(fontsize=7)
    savefig(fig, "memory")


if __name__ == "__main__":
    main()
