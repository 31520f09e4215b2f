"""The one planner of query groups and traceback memory (streamalign.kernels.planning)."""

from __future__ import annotations

import numpy as np
import pytest

from streamalign import AlignmentTooLargeError, _config
from streamalign.kernels.planning import (
    GroupPlan,
    group_cells,
    plan_groups,
    plan_windows,
    traceback_cells,
)


def groups_of(plan: GroupPlan) -> list[np.ndarray]:
    bounds = plan.starts.tolist()
    return [plan.order[bounds[group] : bounds[group + 1]] for group in range(len(plan.lanes))]


@pytest.mark.parametrize("border", [0, 1])
@pytest.mark.parametrize("score_bytes", [None, 2, 4])
@pytest.mark.parametrize("seed", range(4))
def test_groups_cover_the_sorted_queries_within_lanes_cache_and_budget(seed, score_bytes, border):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 400, size=int(rng.integers(1, 700)))
    reference_length = int(rng.integers(0, 300))
    budget = int(traceback_cells(int(lengths.max()), reference_length, border) * rng.integers(1, 9))
    plan = plan_groups(
        lengths,
        reference_length,
        lanes=64,
        memory_budget=budget,
        traceback=True,
        border=border,
        score_bytes=score_bytes,
    )
    assert plan.order.dtype == np.int64 and plan.starts.dtype == np.int64
    assert plan.order.tolist() == np.argsort(lengths, kind="stable").tolist()
    assert plan.starts[0] == 0 and plan.starts[-1] == len(lengths)
    assert np.diff(plan.starts).tolist() == plan.lanes.tolist()
    needed = 0
    for members in groups_of(plan):
        assert 1 <= len(members) <= 64
        cells = traceback_cells(int(lengths[members].max()), reference_length, border)
        assert cells * len(members) <= budget
        needed = max(needed, cells * len(members))
        if score_bytes is not None and len(members) > _config.MIN_LANES:
            rows = int(lengths[members].max()) + 1
            assert 4 * score_bytes * rows * len(members) <= _config.COLUMN_CACHE_BYTES
    assert needed <= plan.scratch_bytes <= budget


def test_score_only_plans_need_no_scratch_and_ignore_the_budget():
    lengths = np.array([1000, 5, 7])
    plan = plan_groups(lengths, 1000, lanes=2, memory_budget=1, traceback=False)
    assert plan.scratch_bytes == 0 and plan.lanes.tolist() == [2, 1]


@pytest.mark.parametrize("border", [0, 1])
def test_a_query_over_the_budget_is_named(border):
    budget = traceback_cells(8, 100, border)
    lengths = np.array([8, 20])
    with pytest.raises(AlignmentTooLargeError, match=r"^long: a 20 x 100 alignment needs 0 MiB"):
        plan_groups(
            lengths,
            100,
            lanes=16,
            memory_budget=budget,
            traceback=True,
            border=border,
            names=["short", "long"],
        )
    # The queries that fit are planned on their own.
    plan = plan_groups(
        lengths[:1], 100, lanes=16, memory_budget=budget, traceback=True, border=border
    )
    assert plan.scratch_bytes == budget


def test_the_legacy_border_counts_row_and_column_zero():
    assert traceback_cells(3, 4, border=1) == 4 * 5
    # 10 x 10 fits 100 bytes without borders, not with them.
    plan_groups(np.array([10]), 10, lanes=1, memory_budget=100, traceback=True)
    with pytest.raises(AlignmentTooLargeError):
        plan_groups(np.array([10]), 10, lanes=1, memory_budget=100, traceback=True, border=1)


def test_window_groups_cover_every_query_once():
    rng = np.random.default_rng(3)
    count = 300
    starts = rng.integers(0, 900, size=count)
    lengths = rng.integers(1, 100, size=count)
    ends = np.minimum(starts + lengths + rng.integers(0, 600, size=count), 1000)
    groups = plan_windows(starts, ends, lengths, 32, 1000)
    members = np.concatenate([group.plan.order for group in groups])
    assert sorted(members.tolist()) == list(range(count))
    for group in groups:
        order = group.plan.order
        assert 1 <= len(order) <= 32 and group.plan.lanes.tolist() == [len(order)]
        assert group.left <= starts[order].min() and ends[order].max() <= group.right
        assert group.plan.scratch_bytes == traceback_cells(
            int(lengths[order].max()), group.right - group.left
        ) * len(order)
    assert group_cells(groups) == sum(group.plan.scratch_bytes for group in groups)
