"""Tunables in one place (lane counts, memory budget, batch sizing)."""

#: Queries aligned side by side in one kernel group (the SIMD lane dimension).
LANES = 64
#: Default cap, in bytes, on the traceback matrix of one kernel call.
TRACEBACK_BUDGET_BYTES = 1 << 30
#: Target number of DP cells per engine batch (about 50-200 ms of kernel work per batch).
TARGET_CELLS_PER_BATCH = 200_000_000
#: Records per batch are kept within these bounds.
MIN_RECORDS_PER_BATCH = 64
MAX_RECORDS_PER_BATCH = 16384
