"""Shared helpers of the benchmark scripts: machine report, tables, plots, flags."""

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

RESULTS = Path(__file__).resolve().parent / "results"
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (all benchmarks: about 10 minutes on 2 cores)",
    )
    p.add_argument(
        "--unset-openblas-env",
        action="store_true",
        help="rerun this script with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset "
        "(picks the CPU's own OpenBLAS kernel, e.g. AVX-512)",
    )
    return p


def maybe_rerun_without_openblas_env(args):
    """Re-exec the script with the OpenBLAS variables unset, for that one command."""
    if args.unset_openblas_env and any(v in os.environ for v in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        argv = [a for a in sys.argv if a != "--unset-openblas-env"]
        env["SKADMM_BENCH_OPENBLAS_UNSET"] = "1"
        raise SystemExit(subprocess.call([sys.executable, *argv], env=env))


def machine():
    """One line per fact about the machine, printed above every table."""
    blas = [
        f"{i['internal_api']} {i.get('version', '')} {i.get('architecture', '')} "
        f"threads={i['num_threads']}"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    env = ", ".join(f"{v}={os.environ[v]}" for v in OPENBLAS_VARS if v in os.environ)
    lines = [
        f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()}",
        f"python {platform.python_version()}, numpy {np.__version__}",
        f"BLAS: {'; '.join(sorted(set(blas)))}",
        f"OpenBLAS environment: {env or 'unset (CPU-specific kernel)'}",
    ]
    return lines


def gemm_peak(dtype=np.float64, n=4000, repeats=2):
    """GFLOP/s of an n x n matrix product on all cores (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    a @ b
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def table(headers, rows, floatfmt="{:.3g}"):
    """A markdown table."""

    def fmt(v):
        if isinstance(v, float):
            return floatfmt.format(v)
        return str(v)

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def report(name, title, sections):
    """Print the report and save it as results/NAME.md."""
    RESULTS.mkdir(exist_ok=True)
    text = [f"## {title}", "", *[f"- {line}" for line in machine()], ""]
    for heading, body in sections:
        if heading:
            text += [f"### {heading}", ""]
        text += [body, ""]
    text = "\n".join(text)
    print(text, flush=True)
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.rst").write_text(to_rst(title, sections))
    return text


def to_rst(title, sections):
    """The same report as reStructuredText (markdown tables become csv-tables)."""
    out = [title, "~" * len(title), "", "Machine:", ""]
    out += [f"- {line}" for line in machine()] + [""]
    for heading, body in sections:
        if heading:
            out += [f"**{heading}**", ""]
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            if lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|-"):
                header = [c.strip() for c in lines[i].strip("|").split("|")]
                out += [".. csv-table::", "   :header: " + ", ".join(f'"{h}"' for h in header), ""]
                i += 2
                while i < len(lines) and lines[i].startswith("|"):
                    cells = [c.strip() for c in lines[i].strip("|").split("|")]
                    out.append("   " + ", ".join(f'"{c}"' for c in cells))
                    i += 1
                out.append("")
            else:
                out.append(lines[i])
                i += 1
        out.append("")
    return "\n".join(out)


def savefig(fig, name):
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"saved {path.relative_to(RESULTS.parent.parent)}")
    return path


def iteration_cost_fit(X, y, hidden, iters, solver="admm", **params):
    """An ``ADMMClassifier`` fitted for exactly ``iters`` iterations: iteration cost, not
    stopping (``tol=0``, no early stopping, no search rule); ``params`` go to the
    estimator (backend, n_jobs, callback)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skadmm import ADMMClassifier

    clf = ADMMClassifier(
        hidden_layer_sizes=hidden,
        solver=solver,
        max_iter=iters,
        tol=0,
        early_stopping=False,
        search_tol=None,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return clf


def timed_default_classifier(X, y, depth, width=100, **params):
    """The default ``ADMMClassifier`` with ``depth`` hidden layers of ``width`` units
    (``params``: other parameters, e.g. ``backend``) fitted on ``(X, y)`` (warnings
    silenced); returns it and the fit's wall time."""
    import warnings

    from skadmm import ADMMClassifier

    model = ADMMClassifier(hidden_layer_sizes=(width,) * depth, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        model.fit(X, y)
    return model, time.perf_counter() - t
