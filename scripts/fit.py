"""Small, dependency-free fitting helpers for the calibration scripts."""

import numpy as np
import numpy.typing as npt


def logistic_fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], l2: float = 1.0,
                 iterations: int = 50) -> npt.NDArray[np.float64]:
    """L2-regularised logistic regression by Newton's method; returns [bias, w1, w2, ...]."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(len(w))
    reg[0, 0] = 0.0  # do not shrink the bias
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def threshold_for(negative_scores: list[float], floor: float, margin: float) -> float:
    """The lowest threshold above every negative score (plus a margin), never below `floor`."""
    top = max(negative_scores, default=0.0)
    return round(min(0.99, max(floor, top + margin)), 4)
