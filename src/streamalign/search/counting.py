"""Compiled k-mer counting for the search: shared windows per cluster and per reference, and
the bounds of :mod:`streamalign.search.bounds` from them.

A query's *windows* are its k-mers by position; ``C`` (the bound's count) is the number of
windows whose k-mer (all ``A C G T``) occurs in the reference. A query's k-mers are kept
sorted and unique with their multiplicities, so a reference's count is the sum of the
multiplicities of the distinct query k-mers it holds.

Example:
    >>> import numpy as np
    >>> from streamalign.alphabet import encode_string
    >>> codes = encode_string("ACGTACGTTT")
    >>> kmers, multiplicities, offsets = query_kmers(codes, np.array([0, 10]), 4)
    >>> len(kmers), int(multiplicities.sum())  # 7 windows, ACGT twice
    (6, 7)
    >>> reference = encode_string("GGACGTACGG")
    >>> member_counts(kmers, multiplicities, offsets, 0, reference, np.array([0, 10]),
    ...               np.array([0], np.int32), 4).tolist()
    [5]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .bounds import _grouped_cover, gene_bound


@njit(nogil=True, cache=True)
def query_kmers(codes, offsets, k):
    """Per query, its distinct all-``ACGT`` k-mer codes (sorted) and their multiplicities:
    query ``q`` owns ``[kmer_offsets[q], kmer_offsets[q + 1])`` of both arrays."""
    kmers, multiplicities, kmer_offsets, _, _ = query_windows(codes, offsets, k)
    return kmers, multiplicities, kmer_offsets


@njit(nogil=True, cache=True)
def query_windows(codes, offsets, k):
    """:func:`query_kmers`, and for each window of each query the position of its k-mer among
    the query's distinct ones (-1: the window holds another letter than ``A C G T``): query
    ``q``'s windows are ``slots[window_offsets[q]:window_offsets[q + 1]]``."""
    count = len(offsets) - 1
    mask = (1 << (2 * k)) - 1
    total = 0
    for query in range(count):
        total += max(0, offsets[query + 1] - offsets[query] - k + 1)
    kmers = np.empty(total, np.int64)
    multiplicities = np.empty(total, np.int32)
    kmer_offsets = np.zeros(count + 1, np.int64)
    window_offsets = np.zeros(count + 1, np.int64)
    window_codes = np.full(total, -1, np.int64)
    slots = np.full(total, -1, np.int32)
    buffer = np.empty(total, np.int64)
    written = 0
    for query in range(count):
        windows = max(0, offsets[query + 1] - offsets[query] - k + 1)
        window_offsets[query + 1] = window_offsets[query] + windows
        first_window = window_offsets[query]
        found = 0
        code = 0
        valid = 0
        for position in range(offsets[query], offsets[query + 1]):
            letter = codes[position]
            if letter < 4:
                code = ((code << 2) | letter) & mask
                valid += 1
            else:
                valid = 0
            if valid >= k:
                buffer[found] = code
                found += 1
                window_codes[first_window + position - offsets[query] - k + 1] = code
        values = np.sort(buffer[:found])
        first = written
        for position in range(found):
            if position > 0 and values[position] == values[position - 1]:
                multiplicities[written - 1] += 1
            else:
                kmers[written] = values[position]
                multiplicities[written] = 1
                written += 1
        kmer_offsets[query + 1] = written
        own = kmers[first:written]
        for window in range(first_window, first_window + windows):
            if window_codes[window] >= 0:
                slots[window] = np.searchsorted(own, window_codes[window])
    return kmers[:written], multiplicities[:written], kmer_offsets, slots, window_offsets


#: :func:`cluster_bounds` keeps bounds by count for at most this many classes of clusters
#: (the commonest), and this many (class, count) entries in all.
_MEMO_CLASSES = 4096
_MEMO_ENTRIES = 1 << 21


def bound_classes(
    mask_ids: np.ndarray,
    ambiguous: np.ndarray,
    ambiguous_runs: np.ndarray,
    span_letters: np.ndarray,
    span_runs: np.ndarray,
) -> np.ndarray:
    """Per cluster: a class number shared by the clusters alike in everything
    :func:`cluster_bounds` bounds them by but their lengths and counts (letter mask,
    ambiguous letters and runs, overall and per stretch), the commonest class first.

    Example:
        >>> spans = np.zeros((3, 2), np.int64)
        >>> bound_classes(np.array([0, 1, 0]), np.zeros(3, np.int64), np.zeros(3, np.int64),
        ...               spans, spans).tolist()
        [0, 1, 0]
    """
    features = np.ascontiguousarray(
        np.column_stack([mask_ids, ambiguous, ambiguous_runs, span_letters, span_runs]),
        dtype=np.int64,
    )
    if not len(features):
        return np.zeros(0, np.int64)
    # (each row as one opaque value: ten times faster than unique rows, 8 ms at 39,199)
    rows = features.view(np.dtype((np.void, features.itemsize * features.shape[1]))).ravel()
    _, inverse, sizes = np.unique(rows, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    ranks = np.empty(len(sizes), np.int64)
    ranks[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return ranks[inverse]


@njit(nogil=True, cache=True)
def cluster_bounds(
    kmers,
    multiplicities,
    kmer_offsets,
    query_lengths,
    kmer_table_offsets,
    postings,
    cluster_count,
    cluster_shortest,
    cluster_longest,
    cluster_mask_ids,
    cluster_ambiguous,
    cluster_ambiguous_runs,
    cluster_span_letters,
    cluster_span_runs,
    cluster_classes,
    query_ambiguous,
    pair_best,
    pair_plain,
    pair_ambiguous,
    k,
    gap_open,
    gap_extend,
    query_end_free,
    reference_fixed,
    by_count,
):
    """For each query: the bound of every cluster some of its k-mers reach, in decreasing order
    of bound (ties: lower cluster first), and the highest bound of the clusters it shares no
    k-mer with. With ``by_count`` (the fast search: it ranks by count), no bound is computed:
    the clusters come in decreasing order of count (ties: lower cluster first), ``bounds``
    holds the counts and ``unshared_bound`` is 0.

    ``pair_best[q, id]``, ``pair_plain[q, id]``, ``pair_ambiguous[q, id]`` are ``s_max``,
    ``s_plain``, ``s_amb`` of query ``q`` against the letters of mask ``id``;
    ``cluster_mask_ids`` gives each cluster's mask, ``cluster_ambiguous`` the most non-``ACGT``
    letters of a member, ``cluster_ambiguous_runs`` the most runs of them,
    ``cluster_span_letters``/``cluster_span_runs`` the most in a stretch of each of
    :data:`~streamalign.search.bounds.SPANS` letters, ``query_ambiguous`` each query's;
    ``cluster_classes`` numbers the clusters alike in all of these but their lengths (from 0;
    see :func:`bound_classes`): for a query no longer than a cluster's shortest member, the
    bound depends on its class and count only, so it is computed once per class and count.

    Returns:
        ``(offsets, clusters, bounds, unshared_bound, shared)``: query ``q``'s clusters are
        ``clusters[offsets[q]:offsets[q + 1]]``; ``shared`` holds each listed cluster's count
        of the query's windows whose k-mer some member holds (at least each member's ``C``).
    """
    query_count = len(kmer_offsets) - 1
    counts = np.zeros(cluster_count, np.int32)
    touched = np.empty(cluster_count, np.int32)
    pieces_clusters = []
    pieces_bounds = []
    pieces_shared = []
    offsets = np.zeros(query_count + 1, np.int64)
    unshared = np.empty(query_count, np.int64)
    # Bounds by class and count, valid where ``memo_stamps`` holds the query (no reset per
    # query); counts past the memo's width are computed each time.
    class_count = min(cluster_classes.max() + 1 if cluster_count else 0, _MEMO_CLASSES)
    longest_query = query_lengths.max() if query_count else 0
    width = max(1, min(longest_query - k + 2, _MEMO_ENTRIES // max(class_count, 1)))
    memo = np.empty((max(class_count, 1), width), np.int64)
    memo_stamps = np.full((max(class_count, 1), width), -1, np.int32)
    for query in range(query_count):
        postings_count = 0
        for position in range(kmer_offsets[query], kmer_offsets[query + 1]):
            code = kmers[position]
            postings_count += kmer_table_offsets[code + 1] - kmer_table_offsets[code]
        touched_count = 0
        if postings_count >= cluster_count:
            # Most clusters will be touched: count without listing them, then one pass.
            for position in range(kmer_offsets[query], kmer_offsets[query + 1]):
                code = kmers[position]
                weight = multiplicities[position]
                for slot in range(kmer_table_offsets[code], kmer_table_offsets[code + 1]):
                    counts[postings[slot]] += weight
            for cluster in range(cluster_count):
                if counts[cluster] > 0:
                    touched[touched_count] = cluster
                    touched_count += 1
        else:
            for position in range(kmer_offsets[query], kmer_offsets[query + 1]):
                code = kmers[position]
                weight = multiplicities[position]
                for slot in range(kmer_table_offsets[code], kmer_table_offsets[code + 1]):
                    cluster = postings[slot]
                    if counts[cluster] == 0:
                        touched[touched_count] = cluster
                        touched_count += 1
                    counts[cluster] += weight
        length = query_lengths[query]
        best_unshared = -(2**62)
        if by_count:
            best_unshared = 0
        elif touched_count < cluster_count:
            for cluster in range(cluster_count):
                if counts[cluster] == 0:
                    mask_id = cluster_mask_ids[cluster]
                    value = gene_bound(
                        length,
                        cluster_shortest[cluster],
                        cluster_longest[cluster],
                        0,
                        k,
                        pair_best[query, mask_id],
                        pair_plain[query, mask_id],
                        pair_ambiguous[query, mask_id],
                        query_ambiguous[query],
                        cluster_ambiguous[cluster],
                        cluster_ambiguous_runs[cluster],
                        cluster_span_letters[cluster],
                        cluster_span_runs[cluster],
                        gap_open,
                        gap_extend,
                        query_end_free,
                        reference_fixed,
                    )
                    best_unshared = max(best_unshared, value)
        unshared[query] = best_unshared
        if postings_count >= cluster_count:
            chosen = touched[:touched_count].copy()  # (listed in order)
        elif touched_count * 8 >= cluster_count:
            # Most clusters touched: one pass over them all is cheaper than sorting.
            chosen = np.empty(touched_count, np.int32)
            written = 0
            for cluster in range(cluster_count):
                if counts[cluster] > 0:
                    chosen[written] = cluster
                    written += 1
        else:
            chosen = np.sort(touched[:touched_count])
        values = np.empty(touched_count, np.int64)
        shared_counts = np.empty(touched_count, np.int64)
        for position in range(touched_count):
            cluster = chosen[position]
            count = counts[cluster]
            shared_counts[position] = count
            mask_id = cluster_mask_ids[cluster]
            bound_class = cluster_classes[cluster]
            memoized = (
                bound_class < class_count
                and count < width
                and cluster_shortest[cluster] >= length
                and not reference_fixed
            )
            if by_count:
                values[position] = count
            elif memoized and memo_stamps[bound_class, count] == query:
                values[position] = memo[bound_class, count]
            else:
                values[position] = gene_bound(
                    length,
                    cluster_shortest[cluster],
                    cluster_longest[cluster],
                    count,
                    k,
                    pair_best[query, mask_id],
                    pair_plain[query, mask_id],
                    pair_ambiguous[query, mask_id],
                    query_ambiguous[query],
                    cluster_ambiguous[cluster],
                    cluster_ambiguous_runs[cluster],
                    cluster_span_letters[cluster],
                    cluster_span_runs[cluster],
                    gap_open,
                    gap_extend,
                    query_end_free,
                    reference_fixed,
                )
                if memoized:
                    memo[bound_class, count] = values[position]
                    memo_stamps[bound_class, count] = query
            counts[cluster] = 0
        order = _descending_order(values)
        pieces_clusters.append(chosen[order])
        pieces_bounds.append(values[order])
        pieces_shared.append(shared_counts[order])
        offsets[query + 1] = offsets[query] + touched_count
    clusters = np.empty(offsets[query_count], np.int32)
    bounds = np.empty(offsets[query_count], np.int64)
    shared = np.empty(offsets[query_count], np.int64)
    for query in range(query_count):
        clusters[offsets[query] : offsets[query + 1]] = pieces_clusters[query]
        bounds[offsets[query] : offsets[query + 1]] = pieces_bounds[query]
        shared[offsets[query] : offsets[query + 1]] = pieces_shared[query]
    return offsets, clusters, bounds, unshared, shared


@njit(nogil=True, cache=True)
def _descending_order(values):
    """Positions of ``values`` in decreasing value, ties in increasing position (a stable
    counting sort when the values span a small range, else a stable argsort)."""
    count = values.shape[0]
    if count == 0:
        return np.zeros(0, np.int64)
    low = values.min()
    high = values.max()
    span = high - low + 1
    if span > 4 * count + 1024:
        return np.argsort(-values, kind="mergesort")
    starts = np.zeros(span + 1, np.int64)
    for position in range(count):
        starts[high - values[position] + 1] += 1
    for bucket in range(span):
        starts[bucket + 1] += starts[bucket]
    order = np.empty(count, np.int64)
    for position in range(count):
        bucket = high - values[position]
        order[starts[bucket]] = position
        starts[bucket] += 1
    return order


@njit(nogil=True, cache=True, inline="always")
def _kmer_hash(code):
    """A multiplicative hash of a k-mer code (its high bits mixed down)."""
    mixed = code * np.int64(0x5851F42D4C957F2D)  # wraps around in 64 bits
    return (mixed >> 29) ^ (mixed >> 47)


@njit(nogil=True, cache=True)
def member_counts(
    kmers, multiplicities, kmer_offsets, query, reference_codes, reference_offsets, members, k
):
    """``C`` of query ``query`` against each reference in ``members`` (see
    :func:`member_evidence`)."""
    slots = np.full(0, -1, np.int32)
    counts, _ = member_evidence(
        kmers,
        multiplicities,
        kmer_offsets,
        slots,
        np.zeros(len(kmer_offsets), np.int64),
        query,
        reference_codes,
        reference_offsets,
        members,
        k,
        0,
        0,
        0,
        0,
        False,
        False,
        0,
    )
    return counts


#: references with at most this many runs of ambiguous letters get the grouped cover too
#: (:func:`member_evidence`; its table grows with the runs).
_GROUPED_RUNS = 8


@njit(nogil=True, cache=True)
def member_evidence(
    kmers,
    multiplicities,
    kmer_offsets,
    slots,
    window_offsets,
    query,
    reference_codes,
    reference_offsets,
    members,
    k,
    mismatch_loss,
    gap_open,
    gap_extend,
    s_max,
    start_free,
    end_free,
    run_loss,
):
    """For query ``query`` and each reference in ``members``: ``C``, and the least loss of
    defects covering its missing windows (:func:`~streamalign.search.bounds.cover_loss`;
    0 when the query has no windows given in ``slots``).

    ``C`` counts exact k-mers only. For the missing windows a reference letter other than
    ``A C G T`` is a wildcard: a window is present when some reference window equals it on
    every other letter (no defect of the bound's proof is then needed there, whatever the
    ambiguous columns score), so the cover's loss needs no allowance for the reference's
    ambiguous letters. A reference with at most ``_GROUPED_RUNS`` runs of such letters also
    gets the cover of its exact k-mers where each run is a defect at ``run_loss`` (unless
    ``run_loss`` is negative; see :func:`~streamalign.search.bounds.grouped_cover_loss`), and
    the larger loss is taken: next to a run of ``k`` or more, every window is present as a
    wildcard.

    The query's k-mers are set in a bit table of all k-mers first (one L2-resident bit per
    k-mer), so a reference k-mer absent from the query costs one bit test; a present one is
    looked up among the query's sorted distinct k-mers, each counted once per reference."""
    start = kmer_offsets[query]
    end = kmer_offsets[query + 1]
    own = kmers[start:end]
    present = np.zeros(((1 << (2 * k)) + 63) // 64, np.uint64)
    for position in range(len(own)):
        present[own[position] >> 6] |= np.uint64(1) << np.uint64(own[position] & 63)
    # The query's k-mers in an open-addressing table (at most a quarter full): a k-mer the
    # bit table lets through is found in a probe or two, not a binary search.
    table_size = 16
    while table_size < 4 * len(own):
        table_size *= 2
    table_mask = table_size - 1
    table_keys = np.full(table_size, -1, np.int64)
    table_slots = np.empty(table_size, np.int64)
    for position in range(len(own)):
        place = _kmer_hash(own[position]) & table_mask
        while table_keys[place] >= 0:
            place = (place + 1) & table_mask
        table_keys[place] = own[position]
        table_slots[place] = position
    stamp = np.full(end - start, -1, np.int64)
    wild = np.full(end - start, -1, np.int64)
    mask = (1 << (2 * k)) - 1
    result = np.zeros(len(members), np.int32)
    losses = np.zeros(len(members), np.int64)
    first_window = window_offsets[query]
    window_count = window_offsets[query + 1] - first_window
    absent = np.empty(window_count, np.bool_)
    absent_exact = np.empty(window_count, np.bool_)
    grouped_table = np.empty((_GROUPED_RUNS + 1, window_count + 1), np.int64)
    grouped_states = np.empty((2, _GROUPED_RUNS + 1), np.int64)
    for member_number in range(len(members)):
        reference = members[member_number]
        total = 0
        code = 0
        care = 0
        runs = 0
        last_ambiguous = -(2**40)
        reference_start = reference_offsets[reference]
        for position in range(reference_start, reference_offsets[reference + 1]):
            letter = reference_codes[position]
            if letter < 4:
                code = ((code << 2) | letter) & mask
                care = ((care << 2) | 3) & mask
            else:
                code = (code << 2) & mask
                care = (care << 2) & mask
                if last_ambiguous != position - 1:
                    runs += 1
                last_ambiguous = position
            if position - reference_start < k - 1:
                continue
            if position - last_ambiguous >= k:  # all A C G T: an exact k-mer
                if (present[code >> 6] >> np.uint64(code & 63)) & np.uint64(1):
                    place = _kmer_hash(code) & table_mask
                    while table_keys[place] != code:
                        place = (place + 1) & table_mask
                    found = table_slots[place]
                    if stamp[found] != member_number:
                        stamp[found] = member_number
                        total += multiplicities[start + found]
            elif window_count > 0:
                # Another letter is a wildcard: the query k-mers equal on the other letters.
                for slot in range(len(own)):
                    if (own[slot] & care) == code:
                        wild[slot] = member_number
        result[member_number] = total
        if window_count > 0:
            for window in range(window_count):
                slot = slots[first_window + window]
                absent[window] = slot < 0 or (
                    stamp[slot] != member_number and wild[slot] != member_number
                )
            losses[member_number] = _grouped_cover(
                absent,
                k,
                mismatch_loss,
                gap_open,
                gap_extend,
                s_max,
                start_free,
                end_free,
                0,
                0,
                grouped_table,
                grouped_states,
            )
            if run_loss >= 0 and 0 < runs <= _GROUPED_RUNS:
                for window in range(window_count):
                    slot = slots[first_window + window]
                    absent_exact[window] = slot < 0 or stamp[slot] != member_number
                grouped = _grouped_cover(
                    absent_exact,
                    k,
                    mismatch_loss,
                    gap_open,
                    gap_extend,
                    s_max,
                    start_free,
                    end_free,
                    runs,
                    run_loss,
                    grouped_table,
                    grouped_states,
                )
                losses[member_number] = max(losses[member_number], grouped)
    return result, losses
