"""Tunables in one place (lane counts, memory budget, batch sizing).

Example:
    >>> from streamalign import _config
    >>> _config.MIN_LANES <= _config.LANES, _config.LANES % _config.MIN_LANES
    (True, 0)
"""

#: Most queries aligned side by side in one kernel group (the SIMD lane dimension).
LANES = 256
#: A group has fewer lanes when the kernel's per-column working set (H of two columns, D and
#: the profile column: 4 scores of 2 bytes (int16) or 4 (float32) per query row and lane) would
#: exceed this many bytes (256 lanes for 64-bp and 250-bp reads, 256 for 1,500-bp genes, 32
#: for 10-kb queries); but never fewer than MIN_LANES (a multiple of the SIMD width: 16 int16
#: lanes per AVX2 register). Past the L2 cache, more lanes still won: the row loop's fixed cost
#: is shared by more lanes. On the pacbio workload of ``benchmarks/kernels.py`` (1,500-bp
#: genes), one core of an AMD EPYC (Zen 5, 1 MiB L2): 320 KiB (16 lanes) 3.6 GCUPS
#: score-only; 640 KiB (48) 7.4; 1 MiB 8.7; 2 MiB 11.3; 3 MiB (256 lanes) 12.6; full
#: alignment 6.0 at 640 KiB, 6.4-7.2 at 3 MiB. 64-bp and MiSeq reads already had 256 lanes.
COLUMN_CACHE_BYTES = 3072 * 1024
#: The same limit for groups with traceback, whose direction bytes grow with the lanes too
#: (query rows x reference length / 2 per lane): full alignment gained nothing measurable past
#: 1 MiB (pacbio, same machine: 6.5 GCUPS at 1 MiB, 6.4-7.2 at 3 MiB), and 1 MiB keeps a
#: 1,500 x 1,500 group's directions (80 lanes) within the kept scratch buffer.
TRACEBACK_COLUMN_CACHE_BYTES = 1024 * 1024
MIN_LANES = 16
#: Lane multiple of 1-byte score groups (the difference kernel, ``kernels/differences.py``):
#: a whole 64-byte register. ``python benchmarks/differences.py --part granule`` (pacbio full,
#: one core, AMD EPYC, AVX-512): groups of [176, 160, 160, 4] lanes ran 12.0 GCUPS, of
#: [128, 128, 128, 116] 14.9.
MIN_LANES_INT8 = 64
#: Alignments with traceback take the 8-bit difference kernel where it computes the same
#: alignments (``kernels/differences.py``); False: always the 16-bit Gotoh kernel (tests and
#: benchmarks compare the two).
DIFFERENCE_KERNEL = True
#: ... for batches whose longest query x reference is at least this many cells: below it the
#: 16-bit kernel was as fast or faster (``python benchmarks/differences.py --part shapes``:
#: random queries, global, traceback, one core, AMD EPYC, GCUPS 16-bit vs 8-bit: 64 x 64 6.5
#: vs 4.8, 150 x 150 9.5 vs 9.5; 100 x 400 9.6 vs 10.9, 250 x 250 10.0 vs 11.8, 64 x 1,465 9.3
#: vs 11.2).
DIFFERENCE_MIN_CELLS = 40_000
#: The difference kernel writes a group's direction bits with non-temporal stores (past the
#: caches, no read of each line first) when they take at least this many bytes; smaller ones
#: stay in the cache for the walk that follows. ``python benchmarks/differences.py``: pacbio
#: (149 MB a group) 11.2 -> 14.8 GCUPS with them.
STREAM_DIRECTION_BYTES = 32 << 20
#: Default cap, in bytes, on the traceback matrix of one kernel call.
TRACEBACK_BUDGET_BYTES = 1 << 30
#: Each thread keeps its traceback scratch for the next call when it is at most this large.
SCRATCH_KEEP_BYTES = 256 << 20
#: Target number of DP cells per engine batch (about a tenth of a second of kernel work). Larger
#: batches group reads better (by length, and by window in ``streamalign.windowing``): 250-bp
#: reads against the 1,465-bp 16S gene ran end to end 14% faster at 640 M cells than at 160 M,
#: and no faster at 1,280 M.
TARGET_CELLS_PER_BATCH = 640_000_000
#: Most records in one engine batch.
MAX_RECORDS_PER_BATCH = 16384
#: the exhaustive search's batches (every read against every reference) hold at least this many
#: bases (about 64 MiSeq reads: the lanes of a kernel call), as long as they stay within
#: EXHAUSTIVE_BATCH_CELLS cells (about 14 MiSeq reads against 3,994 genes, both strands; a
#: 400,000-gene database keeps one read per batch).
EXHAUSTIVE_BATCH_BASES = 16_384
EXHAUSTIVE_BATCH_CELLS = 64 * TARGET_CELLS_PER_BATCH
#: A resumable run makes its checkpoint durable at most this often (and when it stops).
CHECKPOINT_SECONDS = 1.0
#: Windowed traceback (``streamalign.windowing``): tried when the reference is at least this many
#: times longer than the longest query of the batch;
WINDOW_MIN_REFERENCE_RATIO = 2
#: used when its windows hold at most this fraction of the full traceback cells (the score pass
#: is already paid);
WINDOW_USE_FRACTION = 0.8
#: and not tried for the next WINDOW_SKIPS batches when they held more than this fraction (the
#: score pass costs about half a traceback: windows must save more than that).
WINDOW_KEEP_FRACTION = 0.4
WINDOW_SKIPS = 16
#: The progress line on a terminal is redrawn this often (seconds).
PROGRESS_REFRESH_SECONDS = 0.5
#: When standard error is not a terminal, a long run prints a one-line heartbeat this often
#: (seconds); the first after this long, so a short run prints none.
HEARTBEAT_SECONDS = 30.0
#: Banded traceback (``streamalign.kernels.banded``): a pair of at least this many matrix
#: cells (query x reference), or one whose full traceback exceeds the memory budget, is aligned
#: by a score-only pass and a traceback in the band of diagonals its optimal alignments can
#: use; smaller pairs keep the vectorized full-matrix traceback.
BAND_MIN_CELLS = 16_000_000
#: A banded query whose band holds at least this fraction of its full matrix's cells (unrelated
#: sequences score low: wide bands) takes the vectorized full-matrix traceback when that fits the
#: budget.
BAND_USE_FRACTION = 1.0
#: Where the end cell is fixed (neither end free), the first band spans the diagonals the ends
#: force plus this many on each side; it doubles until the band of its score lies inside it.
BAND_INITIAL_MARGIN = 64
#: A semi-global band (query start fixed, reference start free) over the memory budget, or
#: over this many cells, is narrowed by a reverse pass that finds the optimal start columns
#: (``Aligner._band_from_starts``): about half as wide, for a second score-only pass over the
#: band's columns. Only over the budget by default (the pass costs more than the narrower
#: traceback saves); the tests set it to 0.
BAND_FROM_STARTS_CELLS = 2**62
#: Database search (``streamalign.search``): k-mer length of the index (4**k offsets);
SEARCH_K = 8
#: references per cluster of the index's postings when there are more than
#: SEARCH_SINGLETON_REFERENCES references (below that, every reference is its own cluster:
#: each reference's exact count, no member scans; on the 40,000-gene prefix of
#: `benchmarks/search.py --part growth`, `streamalign index --cluster-size 1` against 16
#: halves the exact search's time and shortens --search fast's, for an index 1.5x as large;
#: above it, each read's listing of every reference costs too much memory);
SEARCH_CLUSTER_SIZE = 16
SEARCH_SINGLETON_REFERENCES = 50_000
#: an index file (``streamalign index``) whose arrays hold at most this many bytes has every
#: array's SHA-256 checked each time it is opened (about 0.1 s at the 1.3 GB/s SHA-256 runs
#: here); a larger one has its sizes and header checked only, unless asked (``--verify``):
#: hashing a 400,000-gene index (2-3 GB) would cost seconds on every run and every worker.
INDEX_VERIFY_BYTES = 128 << 20
#: candidates per read aligned in the search's first round, and in each later one (a round
#: aligns every read's candidates grouped by reference, reads as SIMD lanes).
SEARCH_FIRST_ROUND_CANDIDATES = 1
SEARCH_ROUND_CANDIDATES = 4
#: each round aligns this many times more candidates per read than the last, up to the most.
SEARCH_ROUND_GROWTH = 4
SEARCH_MAX_ROUND_CANDIDATES = 1024
#: a read with at least SEARCH_EXHAUST_AFTER candidates aligned whose references that can
#: still beat its best (by their clusters' bounds, and its pool) are at least
#: SEARCH_EXHAUST_SHARE of all (reference, strand) pairs has them all aligned at once, without
#: member bounds: a read close to no reference, whose bounds prune too little to pay for
#: themselves (a member bound costs a scan of its sequence and buys nothing there). A lower
#: share sends reads that the bounds would have pruned to the kernel. With the seeds and the
#: family bounds, 8 candidates tell (64 before: the reads close to no gene scanned the members
#: of the clusters they opened first; 300 growth reads, 2 threads: 399,400 genes 19.4 s ->
#: 15.4 s, 40,000 7.25 s -> 5.9 s, 4,000 3.08 s -> 2.76 s; ten_16s index 5.4-5.5 s -> 4.8-5.3 s;
#: 16, 4 and 1 within the machine's drift of 8; outputs identical).
SEARCH_EXHAUST_SHARE = 0.8
SEARCH_EXHAUST_AFTER = 8
#: the exact search bounds a pair, before aligning it in full, by aligning this share of the
#: query's letters (its end) and bounding the rest by k-mers (``DatabaseSearch.half_bounds``):
#: on sam1F against ten_16s (``benchmarks/search.py --part exact``), a quarter or a third of
#: the query prunes fewer pairs for as much time (a pass costs a fixed 2 us per pair whatever
#: the query's length), and so does a first pass on a fifth, then one on half, for all pairs
#: or only on a read's strand sharing a third as many k-mers as its other (69% pruned there).
SEARCH_TAIL_SHARE = 0.5
#: exhausted reads' pairs are half aligned in calls of about this many rows at most (a read's
#: table holds every reference on both strands: 800,000 rows at 400,000 references).
SEARCH_HALF_ROWS = 1 << 20
#: Whether a family's consensus bounds its members' scores (see
#: streamalign.search.families); off only to measure what it saves.
SEARCH_FAMILIES = True
#: an in-memory index (``-r refs.fa``) finds families from this many references (for the
#: 3,994 genes of ten_16s, finding them costs most of what they save on 1,500 reads;
#: ``streamalign index`` finds them for any set).
SEARCH_FAMILY_REFERENCES = 50_000
#: a family's consensus is aligned to bound its members once a call holds this many of them.
SEARCH_FAMILY_ROWS = 3
#: ... and, to bound the members of clusters a read opens before their k-mer scan, once the
#: members opened at once hold this many of them (a consensus alignment costs about as much as
#: the scans of 3 members: with 3, `-r refs.idx` on ten_16s's small families took 6.1 s
#: instead of 4.9 s; with 8, 5.0 s, and 399,400 genes keep the gain).
SEARCH_FAMILY_OPEN_ROWS = 8
#: ... when it does, the consensus sequences of the families in the read's next clusters are
#: aligned in the same call, up to this many consensus sequences in all (the kernel's time
#: is that of its slowest lane: 1 pair or 64 take about 1 ms for a 250-letter read against
#: 1,500-letter genes, `multireference.score_pairs`).
SEARCH_FAMILY_AHEAD = 64
#: reference columns per block of a consensus alignment's end maxima, which bound its
#: family's members by the events near where the read's alignments end (at 399,400 genes, of
#: the 101,000 members the costliest-stretch bound leaves unsettled for three reads close to
#: no gene, blocks of 32 leave 32,000, of 64 40,000, of 16 28,000:
#: `benchmarks/family_bound_study.py --block K`; 0: not kept).
SEARCH_END_BLOCK = 32
#: consensus alignments' end maxima are filled at most this many at a time (one kernel call
#: each: at 2 MiB the piece stays in the cache; the 18 far reads of the growth benchmark at
#: 399,400 genes align 243,000 consensus sequences at once, whose 12 M maxima took 0.59 s
#: to page in as one array).
SEARCH_END_MAXIMA_CELLS = 1 << 18
#: a family's consensus is first bounded from its upper family's consensus (one alignment for
#: several families: ``KmerIndex.upper_families``) when a call holds this many keys of that
#: upper family (0: never).
SEARCH_UPPER_ROWS = 2
#: ... and only in calls aligning this many consensus sequences (a read's family seeds): in
#: small calls the upper alignments and then those they do not settle take two kernel calls
#: instead of one (282 reads close to genes at 399,400 genes: 11.4 -> 12.8 s serial).
SEARCH_UPPER_KEYS = 256
#: before a read is exhausted, the first member of each of this many clusters sharing most of
#: its k-mers is aligned, so the bounds start from a best near the read's real one
#: (``DatabaseSearch.exhaust_seeds``).
SEARCH_SEED_CLUSTERS = 16
#: a read still exhausted after those, where references form families, has every family's
#: consensus aligned (both strands; the scores the family bounds need anyway) and the member
#: closest to the consensus of this many of the best-scoring families aligned
#: (``DatabaseSearch.family_seeds``).
SEARCH_SEED_FAMILIES = 8
#: the fast search opens a read-strand's clusters 1, 2, 4, ... at a time, up to this many
#: (one bound call for many clusters: fewer calls where a read opens hundreds of them).
SEARCH_FAST_OPEN = 64
#: a (reference, strand) a round gives to at least this many reads is aligned with those reads
#: as the SIMD lanes; other pairs are aligned one read at a time, its references as the lanes.
SEARCH_SHARED_LANES = 16
#: the engine sizes a searched batch as if each record aligned against this many references.
SEARCH_EXPECTED_CANDIDATES = 16
#: GPU (``device="cuda"``, ``streamalign.kernels.cuda``): kernel calls in flight on the device at
#: once, each on its own CUDA stream with its own buffers (one call's transfers overlap
#: another's kernel; worker threads beyond this wait for a stream);
GPU_STREAMS = 2
#: the share of the device memory free at the first call that the streams' working arrays
#: (traceback directions, column buffers) may take together, and at most this many bytes of
#: them per launch (a larger batch is aligned in several launches);
GPU_MEMORY_FRACTION = 0.5
GPU_MAX_LAUNCH_BYTES = 8 << 30
#: threads per block (4 warps: 4 segments of up to 32 pairs);
GPU_THREADS_PER_BLOCK = 128
#: engine batches for the GPU: one thread per pair, so a batch needs tens of thousands of
#: pairs to keep the device busy (about half a second of work at 30 GCUPS; not yet measured on
#: a GPU: ``benchmarks/gpu.py`` is there to tune them).
GPU_TARGET_CELLS_PER_BATCH = 16_000_000_000
GPU_MAX_RECORDS_PER_BATCH = 131072
#: Lanes (blocks of query rows) of the staggered kernel (``kernels/staggered.py``), which
#: aligns one long pair score-only on all SIMD lanes.
STAGGERED_LANES = 256
#: Score-only pairs of at least STAGGERED_MIN_CELLS cells that would get a group of at most
#: STAGGERED_MAX_GROUP_LANES lanes take the staggered kernel. ``python
#: benchmarks/staggered.py`` (6-kb pairs with 2% substitutions, one core, AMD EPYC), GCUPS of
#: the inter-sequence kernel / the staggered one by group size: 1 lane 0.40 / 1.96, 2: 0.41 /
#: 1.96, 4: 1.85 / 1.92, 8: 2.82 / 1.96, 12: 3.30 / 2.02.
STAGGERED_MIN_CELLS = 1_000_000
STAGGERED_MAX_GROUP_LANES = 4
