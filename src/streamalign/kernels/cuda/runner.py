"""The host side of the CUDA kernel: ``run(inputs, outputs)``, as :func:`gotoh.run
<streamalign.kernels.gotoh.run>`, and ``run_windows`` for the windowed traceback.

A call borrows a stream and its buffers (:func:`~streamalign.kernels.cuda.device.device_slot`),
cuts the queries the plan lists into segments and launches
(:mod:`~streamalign.kernels.cuda.layout`), copies the queries, the reference, the tables and
each launch's thread table to the device through pinned buffers, launches
:func:`~streamalign.kernels.cuda.gotoh.align_pairs`, and copies back the results and the
operations only (the directions never leave the device). The outputs are those of the CPU
kernel, query for query: the same :class:`~streamalign.kernels.outputs.KernelOutputs` fields,
the operations at the end of each query's capacity. Only the queries the plan lists are
written.

Scores are computed in ``int32``: a scoring whose values need 64 bits
(``KernelScoring.substitution`` of type ``int64``) is refused here, and the aligner sends it
to the CPU kernel.

Example (on a machine without a GPU the CPU kernel gives the very same numbers):
    >>> from streamalign.alphabet import encode_string
    >>> from streamalign.kernels import gotoh
    >>> from streamalign.kernels.inputs import EndFlags, KernelInput, KernelScoring
    >>> from streamalign.kernels.planning import plan_groups
    >>> offsets = np.array([0, 7, 11])
    >>> inputs = KernelInput(
    ...     encode_string("GATTACAGATC"), offsets, encode_string("GATCACA"),
    ...     plan_groups(np.diff(offsets), 7, lanes=16, memory_budget=2**20, traceback=True),
    ...     KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -1000, np.int16),
    ...     EndFlags.NONE, traceback=True)
    >>> outputs = KernelOutputs.allocate(np.diff(offsets), 7, traceback=True)
    >>> (run if device_problem() is None else gotoh.run)(inputs, outputs)
    >>> outputs.scores.tolist(), outputs.counts.tolist()
    ([4, -5], [[6, 1, 0, 0], [4, 0, 0, 3]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _config
from ..inputs import KernelInput
from ..outputs import KernelOutputs
from ..planning import WindowGroup
from ..slices import copy_slices
from . import layout
from .device import DeviceSlot, device_problem, device_slot

__all__ = ["device_problem", "run", "run_windows"]

_INT32 = np.iinfo(np.int32)


def run(inputs: KernelInput, outputs: KernelOutputs, *, launch_bytes: int | None = None) -> None:
    """Align ``inputs``' queries (those its plan lists) to its reference on the GPU; fill
    ``outputs`` in place.

    Args:
        inputs: the queries, reference, plan, scoring (``int16``, ``float32`` or ``int32``
            values) and end flags.
        outputs: the results, allocated for ``inputs``' queries and reference.
        launch_bytes: most device bytes of working arrays per launch (default: the stream's
            share of the device memory, ``_config.GPU_MAX_LAUNCH_BYTES`` at most); the tests
            make it small to exercise several launches and narrow segments.

    Raises:
        DeviceUnavailableError: no CUDA GPU can be used.
        ValueError: inputs or outputs of the wrong shape or type, or 64-bit scores.
    """
    inputs.check()
    reference_length = len(inputs.reference_codes)
    outputs.check(len(inputs.query_offsets) - 1, reference_length, inputs.traceback)
    _align(inputs, outputs, [(inputs.plan.order, 0, reference_length)], launch_bytes)


def run_windows(
    inputs: KernelInput,
    outputs: KernelOutputs,
    groups: Sequence[WindowGroup],
    *,
    launch_bytes: int | None = None,
) -> None:
    """Align each group's queries to its window ``reference[group.left:group.right]``, all
    groups in one call (``inputs.plan`` is not used). Reference coordinates in ``outputs``
    count from each group's window start, as when the CPU kernel runs on the window."""
    inputs.check()
    reference_length = len(inputs.reference_codes)
    widest = 0
    for group in groups:
        if not 0 <= group.left <= group.right <= reference_length:
            raise ValueError(f"window [{group.left}, {group.right}) outside the reference")
        widest = max(widest, group.right - group.left)
    outputs.check(len(inputs.query_offsets) - 1, widest, inputs.traceback)
    pieces = [(group.plan.order, group.left, group.right) for group in groups]
    _align(inputs, outputs, pieces, launch_bytes)


def _align(
    inputs: KernelInput,
    outputs: KernelOutputs,
    groups: Sequence[tuple[np.ndarray, int, int]],
    launch_bytes: int | None,
) -> None:
    scoring = inputs.scoring
    if scoring.substitution.shape != (16, 16):
        raise ValueError("the substitution table must be 16 x 16")
    values = np.concatenate([scoring.substitution.reshape(-1), scoring.parameters])
    if (
        scoring.substitution.dtype == np.int64
        or values.min() < _INT32.min
        or values.max() > _INT32.max
    ):
        raise ValueError("the CUDA kernel computes in int32; 64-bit scores run on the CPU kernel")
    if not sum(len(members) for members, _, _ in groups):
        return
    from .gotoh import align_pairs

    traceback = inputs.traceback
    lengths = inputs.lengths
    with device_slot() as slot:
        budget = slot.launch_bytes if launch_bytes is None else launch_bytes
        segments = layout.plan_segments(lengths, groups, traceback=traceback, launch_bytes=budget)
        launches = layout.plan_launches(
            segments, traceback=traceback, score_bytes=4, launch_bytes=budget
        )
        query_codes = _upload(slot, "query_codes", inputs.query_codes)
        reference = _upload(slot, "reference", inputs.reference_codes)
        substitution = _upload(
            slot, "substitution", scoring.substitution.reshape(-1).astype(np.int32)
        )
        match_table = _upload(slot, "match_table", scoring.match_table.reshape(-1))
        parameters = _upload(slot, "parameters", scoring.parameters.astype(np.int32))
        words = segments.direction_words()
        buffer_values = segments.buffer_values()
        for first, end in launches:
            table = layout.thread_table(
                segments, first, end, lengths, inputs.query_offsets, traceback
            )
            threads = table.size // layout.TABLE_FIELDS
            buffer_size = int(buffer_values[first:end].sum())
            operations_size = layout.operations_size(table) if traceback else 0
            device_table = _upload(slot, "table", table)
            column_h = slot.device.get("column_h", max(buffer_size, 1), np.int32)
            column_d = slot.device.get("column_d", max(buffer_size, 1), np.int32)
            directions = slot.device.get(
                "directions", max(int(words[first:end].sum()) if traceback else 0, 1), np.uint64
            )
            operations = slot.device.get("operations", max(operations_size, 1), np.uint8)
            results = slot.device.get("results", threads * layout.RESULT_FIELDS, np.int64)
            block = min(_config.GPU_THREADS_PER_BLOCK, threads)
            blocks = -(-threads // block)
            align_pairs[blocks, block, slot.stream](
                device_table,
                query_codes,
                reference,
                substitution,
                match_table,
                parameters,
                int(inputs.ends),
                traceback,
                directions,
                column_h,
                column_d,
                results,
                operations,
            )
            host_results = slot.host.get("results", results.size, np.int64)
            results.copy_to_host(host_results, stream=slot.stream)
            host_operations = slot.host.get("operations", max(operations_size, 1), np.uint8)
            if operations_size:
                operations[:operations_size].copy_to_host(
                    host_operations[:operations_size], stream=slot.stream
                )
            slot.stream.synchronize()
            _scatter(table, host_results, host_operations, outputs, traceback)


def _upload(slot: DeviceSlot, name: str, array: np.ndarray) -> Any:
    """``array`` on the device (through the slot's pinned buffer of that name)."""
    array = np.ascontiguousarray(array).reshape(-1)
    if array.size == 0:
        return slot.device.get(name, 1, array.dtype)
    staged = slot.host.get(name, array.size, array.dtype)
    staged[:] = array
    device = slot.device.get(name, array.size, array.dtype)
    device.copy_to_device(staged, stream=slot.stream)
    return device


def _scatter(
    table: np.ndarray,
    results: np.ndarray,
    operations: np.ndarray,
    outputs: KernelOutputs,
    traceback: bool,
) -> None:
    """Copy one launch's results into ``outputs`` (operations at the end of each query's
    capacity, as the CPU kernels leave them)."""
    queries = table[layout.QUERY :: layout.TABLE_FIELDS]
    working = queries >= 0
    members = queries[working]
    fields = results.reshape(-1, layout.RESULT_FIELDS)[working]
    outputs.scores[members] = fields[:, layout.SCORE]
    outputs.query_starts[members] = fields[:, layout.QUERY_START]
    outputs.query_ends[members] = fields[:, layout.QUERY_END]
    outputs.reference_starts[members] = fields[:, layout.REFERENCE_START]
    outputs.reference_ends[members] = fields[:, layout.REFERENCE_END]
    if not traceback:
        return
    outputs.counts[members] = fields[:, layout.MATCHES : layout.DELETIONS + 1]
    counts = np.ascontiguousarray(fields[:, layout.OPERATION_COUNT])
    outputs.operation_lengths[members] = counts
    ends = table[layout.OPERATIONS_END :: layout.TABLE_FIELDS][working]
    copy_slices(
        outputs.operations,
        outputs.capacity_offsets[members + 1] - counts,
        operations,
        ends - counts,
        counts,
    )
