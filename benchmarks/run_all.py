"""Run every benchmark; ``--quick`` runs them all in about 10 minutes on 2 cores.

484 s measured before ``bench_activations.py`` was added; its quick mode took 119 s more
and the issue-14 scripts (growth, search rule, readout path, communication) are not timed yet.

Each script prints a markdown table with the machine's description and saves
``results/NAME.md``, ``results/NAME.rst`` (for the docs) and ``results/NAME.png``.
Extra flags (``--quick``, ``--unset-openblas-env``) are passed to every script.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_roofline.py",
    "bench_scaling.py",
    "bench_memory.py",
    "bench_cost_growth.py",
    "bench_time_to_accuracy.py",
    "bench_time_to_score.py",
    "bench_fit_phases.py",
    "bench_ablation.py",
    "bench_accuracy.py",
    "bench_full_batch.py",
    "bench_higgs_paper.py",
    "bench_activations.py",
    "bench_growth.py",
    "bench_search_rule.py",
    "bench_row_subsets.py",
    "bench_full_stage.py",
    "bench_stopping_score.py",
    "bench_stage_phases.py",
    "bench_loss_or_solver.py",
    "bench_depth_limit.py",
    "bench_first_layer.py",
    "bench_irls_targets.py",
    "bench_search_ridge.py",
    "bench_first_phase.py",
    "bench_local_targets.py",
    "bench_step_direction.py",
    "bench_readout_path.py",
    "bench_readout_sample.py",
    "bench_readout_preconditioner.py",
    "bench_readout_products.py",
    "bench_communication.py",
    "bench_threads.py",
    "bench_one_chunk.py",
]


def main():
    flags = sys.argv[1:]
    start = time.perf_counter()
    for script in SCRIPTS:
        t = time.perf_counter()
        print(f"\n===== {script} {' '.join(flags)} =====", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *flags], check=True, cwd=HERE)
        print(f"({script}: {time.perf_counter() - t:.0f} s)", flush=True)
    print(f"\nall benchmarks: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
