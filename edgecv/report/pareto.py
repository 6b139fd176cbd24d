"""The Pareto front of (latency, accuracy) points: lower latency and higher accuracy are better."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats, sorted by latency.

    Point ``j`` dominates ``i`` when it is at least as fast and at least as accurate and strictly better in one
    of the two. Duplicates of a front point are all on the front.
    """
    front = []
    for i, (lat_i, acc_i) in enumerate(points):
        dominated = any(
            lat_j <= lat_i and acc_j >= acc_i and (lat_j < lat_i or acc_j > acc_i)
            for j, (lat_j, acc_j) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))
