"""The paper's HIGGS experiment on the shared sample: ADMM vs MLPClassifier(300), one run.

Fixed 80/20 split of ../shared/datasets/higgs (stratified, random_state=0),
standardised; prints a markdown table of test accuracy, fit seconds and iterations.
"""

import sys
import time
import warnings

from _common import report, table
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm.datasets import load_dataset

X, Xt, y, yt = load_dataset("higgs")
models = {
    "ADMM solver=paper (Alg. 1, paper settings)": ADMMClassifier(
        (300,), solver="paper", max_iter=30, early_stopping=False, random_state=0
    ),
    "ADMM solver=admm (default: threads)": ADMMClassifier((300,), random_state=0),
    "ADMM default on one thread (backend='serial')": ADMMClassifier(
        (300,), random_state=0, backend="serial"
    ),
    "MLPClassifier(300), adam": MLPClassifier((300,), random_state=0),
    "MLPClassifier(300), early_stopping": MLPClassifier(
        (300,), early_stopping=True, random_state=0
    ),
}
if "--quick" in sys.argv:  # 200 epochs of adam without early stopping: the slow one
    models.pop("MLPClassifier(300), adam")
rows = []
for name, m in models.items():
    p = make_pipeline(StandardScaler(), m)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        p.fit(X, y)
    rows.append((name, round(p.score(Xt, yt), 4), round(time.perf_counter() - t, 2), m.n_iter_))
report(
    "higgs_paper",
    "The paper's HIGGS network (300 ReLU units) on the shared HIGGS split",
    [
        (
            f"{len(y)} train / {len(yt)} test rows",
            table(["model", "test accuracy", "fit s", "iterations"], rows),
        )
    ],
)
