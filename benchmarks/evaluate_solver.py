"""Which logistic-regression solver evaluate should use (#24): the fastest at equal results.

On scikit-learn's bundled digits (1,797 8x8 images, 10 classes; and the same images upsampled to
16x16, the image baseline's 256 features), a train split and that split plus one noisy copy per
image (what the augmented arm sees), each solver of LogisticRegression fits evaluate's model
(standardised features, C=1, max_iter=2000, one BLAS thread). Printed per solver: the median fit
time over 3 fits, and how many test predictions differ from the current solver (lbfgs) and from
a tightly converged reference (lbfgs, tol=1e-10).

    PYTHONPATH=. .venv/bin/python benchmarks/evaluate_solver.py
"""

from __future__ import annotations

import time
import warnings
from statistics import median

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")


def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    digits = load_digits()
    upsampled = np.stack([np.asarray(Image.fromarray((image * 15).astype(np.uint8)).resize((16, 16)), dtype=np.float64)
                          .ravel() / 255 for image in digits.images])
    return {"digits 8x8": (digits.data, digits.target.astype(str)),
            "digits 16x16": (upsampled, digits.target.astype(str))}


def fit(solver: str, x: np.ndarray, y: np.ndarray, **options) -> tuple[float, object]:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, solver=solver, **options))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is reported through the prediction differences
        model.fit(x, y)
    return time.perf_counter() - started, model


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'data':<14}{'arm':<11}{'solver':<17}{'fit s':>8}{'≠ lbfgs':>9}{'≠ tight':>9}")
    with threadpool_limits(limits=1):
        for name, (x, y) in datasets().items():
            order = rng.permutation(len(x))
            train, test = order[: len(x) * 3 // 4], order[len(x) * 3 // 4:]
            noisy = x[train] + rng.normal(0, x.std() / 4, x[train].shape)
            arms = {"original": (x[train], y[train]),
                    "augmented": (np.vstack([x[train], noisy]), np.concatenate([y[train], y[train]]))}
            for arm, (x_train, y_train) in arms.items():
                tight = fit("lbfgs", x_train, y_train, tol=1e-10)[1].predict(x[test])
                current = fit("lbfgs", x_train, y_train)[1].predict(x[test])
                for solver in SOLVERS:
                    runs = [fit(solver, x_train, y_train) for _ in range(3)]
                    predicted = runs[0][1].predict(x[test])
                    print(f"{name:<14}{arm:<11}{solver:<17}{median(r[0] for r in runs):8.3f}"
                          f"{int((predicted != current).sum()):9d}{int((predicted != tight).sum()):9d}")


if __name__ == "__main__":
    main()
