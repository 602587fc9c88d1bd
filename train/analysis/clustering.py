"""KMeans and clustering accuracy (numpy only): how well features group frames by subject (paper §4.4).

Accuracy is the share of frames whose cluster, matched one-to-one to a subject by the assignment that
maximises agreement (Hungarian algorithm), is their subject's: 1.0 for a perfect grouping, about
``1/k`` for features that carry no identity.
"""

from __future__ import annotations

import numpy as np


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 100, restarts: int = 4) -> np.ndarray:
    """Labels (N,) of ``x (N, D)`` in ``k`` clusters: k-means++ starts, Lloyd iterations, best of ``restarts``."""
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be in 1..{len(x)}, got {k}")
    x = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(restarts):
        centres = x[[rng.integers(len(x))]]
        for _ in range(1, k):  # k-means++: next centre with probability ~ squared distance
            d2 = ((x[:, None] - centres[None]) ** 2).sum(-1).min(1)
            p = d2 / d2.sum() if d2.sum() > 0 else None
            centres = np.vstack([centres, x[rng.choice(len(x), p=p)]])
        for _ in range(iters):
            labels = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
            new = np.stack([x[labels == c].mean(0) if (labels == c).any() else centres[c] for c in range(k)])
            if np.allclose(new, centres):
                break
            centres = new
        cost = ((x - centres[labels]) ** 2).sum()
        if cost < best_cost:
            best, best_cost = labels, cost
    return best


def assignment(cost: np.ndarray) -> np.ndarray:
    """Hungarian algorithm: for a square ``cost (n, n)``, the column of each row minimising the total cost."""
    n = cost.shape[0]
    if cost.shape != (n, n):
        raise ValueError(f"cost must be square, got {cost.shape}")
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    match = np.zeros(n + 1, int)  # match[col] = row (1-based; 0 = free)
    for row in range(1, n + 1):
        match[0], col0 = row, 0
        minv, used, way = np.full(n + 1, np.inf), np.zeros(n + 1, bool), np.zeros(n + 1, int)
        while match[col0]:
            used[col0] = True
            r, delta, col1 = match[col0], np.inf, 0
            for c in range(1, n + 1):
                if not used[c]:
                    cur = cost[r - 1, c - 1] - u[r] - v[c]
                    if cur < minv[c]:
                        minv[c], way[c] = cur, col0
                    if minv[c] < delta:
                        delta, col1 = minv[c], c
            for c in range(n + 1):
                if used[c]:
                    u[match[c]] += delta
                    v[c] -= delta
                else:
                    minv[c] -= delta
            col0 = col1
        while col0:
            col1 = way[col0]
            match[col0] = match[col1]
            col0 = col1
    cols = np.zeros(n, int)
    for c in range(1, n + 1):
        cols[match[c] - 1] = c - 1
    return cols


def cluster_accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of items whose cluster maps to their true group under the best one-to-one matching."""
    clusters, groups = np.unique(labels), np.unique(truth)
    n = max(len(clusters), len(groups))
    agree = np.zeros((n, n))
    for i, c in enumerate(clusters):
        for j, g in enumerate(groups):
            agree[i, j] = np.sum((labels == c) & (truth == g))
    cols = assignment(-agree)
    return float(agree[np.arange(n), cols].sum() / len(labels))
