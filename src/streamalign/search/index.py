"""A k-mer index of a reference database: which clusters of references hold each k-mer.

The index answers one question fast: for a read, how many of its k-mers each reference holds
(:mod:`streamalign.search.counting`), from which :mod:`streamalign.search.bounds` derives an
upper bound on every reference's alignment score.

Layout (every array is plain numpy, so the index can be memory-mapped and shared):

- ``reference_codes``/``reference_offsets``: the references' codes
  (:mod:`streamalign.alphabet`), concatenated; reference ``r`` is
  ``reference_codes[reference_offsets[r]:reference_offsets[r + 1]]``.
- References are grouped into *clusters* of about ``cluster_size`` similar references:
  ``cluster_members[cluster_offsets[c]:cluster_offsets[c + 1]]`` lists cluster ``c``'s
  references in increasing order. A family's members (near-identical references,
  :mod:`streamalign.search.families`) are cut into clusters of their own, so a cluster of one
  gene's copies has about the bound of each; the references in no family are ordered by their two
  smallest k-mer hashes (references sharing their smallest k-mer hash are often
  near-identical), then cut into consecutive groups. The order only affects speed, never
  results.
- ``postings[kmer_offsets[x]:kmer_offsets[x + 1]]``: the clusters (increasing, each once) in
  which some member holds k-mer ``x``. A k-mer is coded 2 bits per base (``A C G T`` = 0-3, the
  first base most significant); k-mers with another code (``N``, ``R``, ...) are not indexed.
- Per reference, ``letter_masks``: the bit set of codes it holds (bit ``c`` for code ``c``),
  so bounds use the substitution scores of the letters present only.
- ``family_*``: the families of near-identical references, their consensus sequences and each
  member's differences from its consensus (:class:`streamalign.search.families.Families`).
- ``upper_*``: the families of those consensus sequences (the same kind of object, one level
  up).

Example:
    >>> genes = ["GATTACAGATTACA", "CCCCGGGGAAAA", "GATTACAGATTNCA"]
    >>> index = build_index(genes, k=4)
    >>> index.reference_count, index.cluster_count, index.kmer_count
    (3, 3, 256)
    >>> index.clusters_of(kmer_code("GATT")).tolist()  # every reference its own cluster
    [0, 2]
    >>> clustered = build_index(genes, k=4, cluster_size=2)
    >>> [clustered.cluster_members[a:b].tolist()
    ...  for a, b in zip(clustered.cluster_offsets, clustered.cluster_offsets[1:])]
    [[1, 2], [0]]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numba import njit

from .. import _config
from ..alphabet import encode_string
from .families import Families, _sketches, find_families

#: Smallest and largest k accepted (the k-mer table has 4**k + 1 offsets).
MIN_K = 4
MAX_K = 13


@dataclasses.dataclass(frozen=True)
class KmerIndex:
    """References, their clusters and the cluster postings of every k-mer (see the module).

    Attributes:
        k: k-mer length.
        names: reference names, in file order.
        reference_codes, reference_offsets: the references' codes, concatenated.
        letter_masks: ``int32`` bit set of the codes each reference holds.
        cluster_offsets, cluster_members: the members of each cluster (``int64``/``int32``).
        kmer_offsets, postings: for each k-mer code, the clusters holding it (``int64``/
            ``int32``).
        family_of, family_consensus_offsets, family_consensus_codes, family_event_offsets,
            family_event_positions, family_event_values: the arrays of :attr:`families`.
        upper_of, upper_consensus_offsets, upper_consensus_codes, upper_event_offsets,
            upper_event_positions, upper_event_values: the arrays of :attr:`upper_families`.
    """

    k: int
    names: Sequence[str]
    reference_codes: np.ndarray
    reference_offsets: np.ndarray
    letter_masks: np.ndarray
    cluster_offsets: np.ndarray
    cluster_members: np.ndarray
    kmer_offsets: np.ndarray
    postings: np.ndarray
    family_of: np.ndarray
    family_consensus_offsets: np.ndarray
    family_consensus_codes: np.ndarray
    family_event_offsets: np.ndarray
    family_event_positions: np.ndarray
    family_event_values: np.ndarray
    upper_of: np.ndarray
    upper_consensus_offsets: np.ndarray
    upper_consensus_codes: np.ndarray
    upper_event_offsets: np.ndarray
    upper_event_positions: np.ndarray
    upper_event_values: np.ndarray

    @property
    def upper_families(self) -> Families:
        """The families of the families' consensus sequences (their "members" are the
        consensus sequences, in family order): one alignment of an upper consensus bounds
        every family consensus in it
        (:meth:`~streamalign.search.searcher.DatabaseSearch.consensus_scores`)."""
        return Families(*(getattr(self, name) for name in _family_fields("upper")))

    @property
    def families(self) -> Families:
        """The families of near-identical references (:mod:`streamalign.search.families`)."""
        return Families(*(getattr(self, name) for name in _family_fields("family")))

    @property
    def reference_count(self) -> int:
        """Number of references."""
        return len(self.reference_offsets) - 1

    @property
    def cluster_count(self) -> int:
        """Number of clusters."""
        return len(self.cluster_offsets) - 1

    @property
    def kmer_count(self) -> int:
        """Number of possible k-mers (``4**k``)."""
        return len(self.kmer_offsets) - 1

    @property
    def reference_lengths(self) -> np.ndarray:
        """Length of each reference."""
        return np.diff(self.reference_offsets)

    def clusters_of(self, code: int) -> np.ndarray:
        """The clusters in which some reference holds the k-mer ``code``."""
        return self.postings[self.kmer_offsets[code] : self.kmer_offsets[code + 1]]

    def reference(self, number: int) -> np.ndarray:
        """Codes of reference ``number``."""
        return self.reference_codes[
            self.reference_offsets[number] : self.reference_offsets[number + 1]
        ]


def kmer_code(text: str) -> int:
    """The index's code of a k-mer of ``A C G T`` (2 bits per base, first base first).

    Example:
        >>> kmer_code("AC"), kmer_code("TT")
        (1, 15)
    """
    code = 0
    for value in encode_string(text).tolist():
        if value > 3:
            raise ValueError(f"k-mers hold A, C, G, T only, got {text!r}")
        code = code * 4 + value
    return code


def default_cluster_size(reference_count: int) -> int:
    """References per cluster: 1 for small sets (the postings are exact per reference), up to
    ``_config.SEARCH_CLUSTER_SIZE`` for large ones."""
    if reference_count <= _config.SEARCH_SINGLETON_REFERENCES:
        return 1
    return _config.SEARCH_CLUSTER_SIZE


def build_index(
    references: Sequence[str] | Sequence[np.ndarray],
    *,
    k: int = _config.SEARCH_K,
    names: Sequence[str] | None = None,
    cluster_size: int | None = None,
) -> KmerIndex:
    """Index ``references`` (strings, or code arrays of :mod:`streamalign.alphabet`).

    Args:
        references: the reference sequences.
        k: k-mer length, ``MIN_K`` to ``MAX_K``.
        names: their names (default ``reference0``, ``reference1``, ...).
        cluster_size: references per cluster (default :func:`default_cluster_size`).
    """
    if not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be between {MIN_K} and {MAX_K}, got {k}")
    codes_list = [
        encode_string(item, f"reference{number}") if isinstance(item, (str, bytes)) else item
        for number, item in enumerate(references)
    ]
    if not codes_list:
        raise ValueError("at least one reference is needed")
    lengths = np.array([len(codes) for codes in codes_list], dtype=np.int64)
    offsets = np.zeros(len(codes_list) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = (
        np.concatenate([np.asarray(codes) for codes in codes_list]).astype(np.uint8, copy=False)
        if offsets[-1]
        else np.zeros(0, np.uint8)
    )
    return index_arrays(
        codes,
        offsets,
        k=k,
        names=list(names) if names is not None else [f"reference{n}" for n in range(len(lengths))],
        cluster_size=cluster_size,
    )


def index_arrays(
    codes: np.ndarray,
    offsets: np.ndarray,
    *,
    k: int,
    names: Sequence[str],
    cluster_size: int | None = None,
    families: bool = True,
    threads: int | None = None,
) -> KmerIndex:
    """Index references given as concatenated codes and offsets (see :func:`build_index`);
    with ``families``, find the families of near-identical references
    (:func:`~streamalign.search.families.find_families`, on ``threads`` threads)."""
    count = len(offsets) - 1
    if cluster_size is None:
        cluster_size = default_cluster_size(count)
    if cluster_size < 1:
        raise ValueError(f"cluster_size must be >= 1, got {cluster_size}")
    found = find_families(codes, offsets, threads) if families else Families.none(count)
    # Families of the consensus sequences (families of 16S genes of one genus lie a few
    # percent apart: one upper alignment bounds several consensus ones).
    upper = (
        find_families(found.consensus_codes, found.consensus_offsets, threads)
        if found.family_count > 1
        else Families.none(found.family_count)
    )
    if cluster_size == 1:
        order = np.arange(count, dtype=np.int32)
        cluster_offsets = np.arange(count + 1, dtype=np.int64)
    else:
        # A family's members together (a cluster of one gene's copies has the bound of each),
        # each family cut on its own; the references in none by MinHash.
        sketches = _sketches(codes, offsets, k, 2)  # (the two smallest k-mer hashes)
        first, second = sketches[:, 0], sketches[:, 1]
        family_keys = np.where(found.family_of >= 0, found.family_of, found.family_count)
        order = np.lexsort((np.arange(count), second, first, family_keys)).astype(np.int32)
        blocks = np.flatnonzero(np.diff(family_keys[order])) + 1
        block_starts = np.concatenate(([0], blocks))
        block_ends = np.concatenate((blocks, [count]))
        cuts = [
            np.arange(start, end, cluster_size)
            for start, end in zip(block_starts.tolist(), block_ends.tolist(), strict=True)
        ]
        cluster_offsets = np.concatenate([*cuts, [count]]).astype(np.int64)
    members = order.copy()
    for cluster in range(len(cluster_offsets) - 1):
        start, end = cluster_offsets[cluster], cluster_offsets[cluster + 1]
        members[start:end] = np.sort(members[start:end])
    kmer_offsets, postings = _cluster_postings(codes, offsets, cluster_offsets, members, k)
    return KmerIndex(
        k=k,
        names=names,
        reference_codes=codes,
        reference_offsets=offsets,
        letter_masks=_letter_masks(codes, offsets),
        cluster_offsets=cluster_offsets,
        cluster_members=members,
        kmer_offsets=kmer_offsets,
        postings=postings,
        **_family_arrays("family", found),
        **_family_arrays("upper", upper),
    )


def _family_arrays(prefix: str, families: Families) -> dict[str, np.ndarray]:
    """``families``' arrays by their :class:`KmerIndex` field names (not copied)."""
    arrays = [getattr(families, field.name) for field in dataclasses.fields(families)]
    return dict(zip(_family_fields(prefix), arrays, strict=True))


def _family_fields(prefix: str) -> tuple[str, ...]:
    """The :class:`KmerIndex` fields holding a :class:`Families`' arrays, in its order."""
    return (
        f"{prefix}_of",
        f"{prefix}_consensus_offsets",
        f"{prefix}_consensus_codes",
        f"{prefix}_event_offsets",
        f"{prefix}_event_positions",
        f"{prefix}_event_values",
    )


@njit(nogil=True, cache=True)
def _letter_masks(codes, offsets):
    """Bit set of the codes each reference holds."""
    masks = np.zeros(len(offsets) - 1, np.int32)
    for reference in range(len(offsets) - 1):
        mask = 0
        for position in range(offsets[reference], offsets[reference + 1]):
            mask |= 1 << codes[position]
        masks[reference] = mask
    return masks


@njit(nogil=True, cache=True)
def _cluster_postings(codes, offsets, cluster_offsets, members, k):
    """CSR of k-mer -> clusters holding it: one pass counts, one fills; a stamp per k-mer keeps
    each cluster once per k-mer."""
    size = 1 << (2 * k)
    stamp = np.full(size, -1, np.int64)
    counts = np.zeros(size + 1, np.int64)
    _visit_cluster_kmers(codes, offsets, cluster_offsets, members, k, stamp, counts, counts[:0])
    for code in range(size):
        counts[code + 1] += counts[code]
    postings = np.empty(counts[size], np.int32)
    fill = counts[:size].copy()
    stamp[:] = -1
    _visit_cluster_kmers(codes, offsets, cluster_offsets, members, k, stamp, fill, postings)
    return counts, postings


@njit(nogil=True, cache=True)
def _visit_cluster_kmers(codes, offsets, cluster_offsets, members, k, stamp, slots, postings):
    """For each (k-mer, cluster) pair once: count it in ``slots[code + 1]`` (``postings``
    empty), or write the cluster at ``postings[slots[code]]`` and advance the slot."""
    mask = (1 << (2 * k)) - 1
    counting = len(postings) == 0
    for cluster in range(len(cluster_offsets) - 1):
        for member_position in range(cluster_offsets[cluster], cluster_offsets[cluster + 1]):
            reference = members[member_position]
            code = 0
            valid = 0
            for position in range(offsets[reference], offsets[reference + 1]):
                letter = codes[position]
                if letter < 4:
                    code = ((code << 2) | letter) & mask
                    valid += 1
                else:
                    valid = 0
                if valid >= k and stamp[code] != cluster:
                    stamp[code] = cluster
                    if counting:
                        slots[code + 1] += 1
                    else:
                        postings[slots[code]] = cluster
                        slots[code] += 1
