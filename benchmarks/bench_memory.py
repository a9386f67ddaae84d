"""Memory: peak resident memory of a fit against the theoretical need, growing N.

Each N runs in a fresh process (a *synthetic* HIGGS-shaped problem, 28
features, one hidden layer of 300 ReLU units, float64): the peak RSS of the
fit minus the RSS before the data existed, against the theory
``X + per-sample state``: ``n * (28 + 2 * 300 + 3) * 8`` bytes (``X``,
``a_1`` and ``z_1``, and ``z_2``, ``lambda`` and the target), plus the
per-block temporaries, which do not grow with N.

Target (issue 5): peak within 1.3x of theory at large N; growth linear in N.

Measures the ADMM iteration itself: ``solver="plain"`` (the default of the
first release, which the model above describes).  The default
``solver="admm"`` adds the relaxation search per hidden layer (a few more
Gram matrices of the hidden features, one more small reduction); its wall
time against MLP is in ``bench_accuracy.py``.
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


def child(n):
    from sklearn.exceptions import ConvergenceWarning

    from skadmm import ADMMClassifier

    before = rss_now()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    clf = ADMMClassifier(
        hidden_layer_sizes=(HIDDEN,),
        solver="plain",
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
        return child(int(sys.argv[sys.argv.index("--child") + 1]))
    args = parser(__doc__.splitlines()[0]).parse_args()
    maybe_rerun_without_openblas_env(args)
    sizes = [50_000, 200_000, 400_000] if args.quick else [50_000, 200_000, 800_000, 2_000_000]
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))[7:])
        theory = n * (D + 2 * HIDDEN + 3) * 8
        used = res["peak"] - res["before"]
        rows.append((n, theory / 2**20, used / 2**20, used / theory))
    n, _, used, _ = np.array(rows).T
    slope = np.polyfit(np.log(n), np.log(used), 1)[0]
    worst = rows[-1][3]
    sections = [
        (
            "Peak RSS of a fit (synthetic HIGGS shape, 28-300-1, float64)",
            table(["N", "theory MiB", "measured MiB", "measured / theory"], rows),
        ),
        (
            "Targets",
            f"- measured / theory at N={sizes[-1]:,}: {worst:.2f} "
            f"({'met' if worst <= 1.3 else 'NOT met'}, target <= 1.3)\n"
            f"- growth exponent in N (log-log fit): {slope:.2f} (linear = 1)",
        ),
    ]
    report("memory", "Memory: peak RSS against theory", sections)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    arr = np.array(rows)
    ax.loglog(arr[:, 0], arr[:, 1], "s--", label="theory: X + per-sample state")
    ax.loglog(arr[:, 0], arr[:, 2], "o-", label="measured peak RSS increase")
    ax.set_xlabel("rows N (synthetic)")
    ax.set_ylabel("MiB")
    ax.legend()
    savefig(fig, "memory")


if __name__ == "__main__":
    main()
