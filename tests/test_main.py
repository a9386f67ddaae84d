"""The main job (``python -m skadmm``) runs and reports both models."""

from skadmm.__main__ import main


def test_main_job_prints_admm_next_to_mlp(capsys):
    assert main(["--hidden", "16", "--backend", "joblib", "--n-jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "| ADMMClassifier" in out and "| MLPClassifier (adam)" in out
    assert "ADMM / MLP: accuracy" in out and "backend=joblib (2 threads)" in out
