#!/usr/bin/env bash
# The project's whole test suite: serial pytest, then the MPI tests under
# mpiexec at 1, 2 and 3 ranks.  Uses the venv's python and mpiexec (MPICH
# from PyPI), never another MPI.  Any failure (pytest's exit code 5, "no
# tests", included) fails the run; `timeout` keeps a deadlock from hanging.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
BIN="$(cd "$(dirname "$PY")" && pwd)"
export PATH="$BIN:$PATH"
export PYTHONHASHSEED=0

echo "== pytest (serial, joblib, kernels, estimators, real data) =="
timeout 3000 python -m pytest -p no:cacheprovider -q tests

for n in 1 2 3; do
  echo "== MPI tests on $n rank(s) =="
  HYPOTHESIS_PROFILE=mpi timeout 600 "$BIN/mpiexec" -n "$n" \
    python -m mpi4py -m pytest -p no:cacheprovider -q tests/test_mpi.py
done
echo "== all test runs passed =="
