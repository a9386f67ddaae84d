"""Test configuration shared by the serial and the MPI runs."""

import os

import pytest
from hypothesis import settings
from sklearn.preprocessing import StandardScaler

from skadmm.datasets import load_higgs

# Under mpiexec every rank must draw the same examples, or collectives hang.
settings.register_profile("mpi", derandomize=True, deadline=None)
# The default run (CI's) is reproducible: the same examples every time.
# HYPOTHESIS_PROFILE=explore draws new ones (and more) to hunt for bugs.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _world():
    """MPI.COMM_WORLD when running under mpiexec with more than one rank, else None."""
    if not any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE")):
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under mpiexec, a failure on one rank aborts every rank instead of hanging them.

    pytest catches a test's exception, so ``python -m mpi4py`` never sees it and
    the other ranks would wait forever in the next collective.
    """
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        comm = _world()
        if comm is not None:
            import sys

            print(
                f"\n[rank {comm.Get_rank()}] {item.nodeid} failed:\n{report.longreprtext}",
                file=sys.stderr,
                flush=True,
            )
            comm.Abort(1)


@pytest.fixture(scope="module")
def higgs_small():
    """The first 3,000 rows of the embedded HIGGS sample, standardised."""
    X, y = load_higgs(return_X_y=True)
    return StandardScaler().fit_transform(X[:3000]), y[:3000]
