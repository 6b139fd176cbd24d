"""The Pareto front of (latency, accuracy): faster and more accurate is better."""

from __future__ import annotations

from edgecv.report.pareto import pareto_front


def test_front_keeps_the_undominated_points_sorted_by_latency() -> None:
    points = [(10.0, 90.0), (5.0, 85.0), (12.0, 89.0), (2.0, 70.0), (5.0, 80.0), (20.0, 92.0)]
    assert pareto_front(points) == [3, 1, 0, 5]


def test_ties_and_trivial_inputs() -> None:
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 50.0)]) == [0]
    assert pareto_front([(1.0, 50.0), (1.0, 50.0)]) == [0, 1]  # identical points dominate neither
    assert pareto_front([(1.0, 50.0), (1.0, 60.0)]) == [1]  # as fast, more accurate
