"""The public aligner: validates and encodes input, groups queries, calls the kernels.

Example:
    >>> aligner = Aligner("GAGTTTGATCCTGGCTCAG", mode="global")
    >>> alignment = aligner.align("GAGTTTAATCCTGGCTCAG")
    >>> alignment.score, alignment.cigar, alignment.identity
    (16.0, '6=1X12=', 0.9473684210526315)
    >>> batch = aligner.align_many(["GAGTTTGATCCTGGCTCAG", "GAGTTTGATCTGGCTCAG"])
    >>> batch.scores.tolist(), batch.cigars()
    ([19.0, 13.0], ['19=', '9=1D9='])
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import _config, windowing
from .alphabet import (
    encode,
    reverse_complement_ascii,
    reverse_complement_codes,
    reversed_positions,
)
from .errors import ScoringError
from .kernels import banded, differences, gotoh, planning, staggered
from .kernels.inputs import BandInput, EndFlags, KernelInput, KernelScoring
from .kernels.outputs import KernelOutputs
from .records import SequenceBatch, _gather_indices
from .references import CodeViews, ReferenceSequences
from .results import Alignment, AlignmentBatch
from .scoring import Scoring
from .search.fast import FastSearch, fast_best
from .thresholds import Threshold

#: End-gap settings of the named modes:
#: (query_start_free, query_end_free, reference_start_free, reference_end_free).
MODES: dict[str, tuple[bool, bool, bool, bool]] = {
    "global": (False, False, False, False),
    "semiglobal": (False, False, True, True),
    "overlap": (True, True, True, True),
    "local": (True, True, True, True),
}
STRANDS = ("forward", "both")
#: How a query finds its best reference among several: ``exact`` (the k-mer search of
#: :mod:`streamalign.search`, same result as aligning every reference), ``exhaustive``, or
#: ``fast`` (vsearch's stopping rules, :mod:`streamalign.search.fast`; the Aligner takes it as
#: a :class:`~streamalign.search.fast.FastSearch` holding its threshold and limits).
SEARCHES = ("exact", "exhaustive", "fast")
#: Where the Gotoh kernels run: ``"cpu"`` (numba, every core) or ``"cuda"`` (an NVIDIA GPU,
#: :mod:`streamalign.kernels.cuda`; needs ``pip install 'streamalign[gpu]'``).
DEVICES = ("cpu", "cuda")

_SCORE_TYPES = (np.int16, np.float32, np.int32, np.int64)


def _score_dtype(scoring: Scoring, longest_query: int, reference_length: int) -> tuple[type, int]:
    """Narrowest integer type that holds every DP value, and the 'minus infinity' to use."""
    matrix = scoring.integer_matrix
    gap_open = scoring.integer_gap_open
    gap_extend = scoring.integer_gap_extend
    # Every H value lies above the all-gap path and below min(len) * best substitution; gap
    # states lie at most one gap opening below an H value.
    lowest = 3 * gap_open + (longest_query + reference_length + 2) * gap_extend
    highest = min(longest_query, reference_length) * max(int(matrix.max()), 0)
    # The substitution table is cast to the score type too, and a diagonal candidate is an H
    # value plus a substitution score: the most negative entry must fit as well (a mismatch of
    # -3e9 used to wrap around to a large positive int32 score).
    lowest_diagonal = lowest + max(-int(matrix.min()), 0)
    for dtype in _SCORE_TYPES:
        # int16 first: 16 lanes per AVX2 register (the kernel narrows numba's 64-bit
        # intermediate results back); then float32, exact for every integer below 2**24.
        limit = 2**23 if dtype is np.float32 else int(np.iinfo(dtype).max)  # type: ignore[type-var]
        minus_infinity = lowest + 2 * gap_extend + gap_open + 16
        if (
            # Local mode tracks its end row and column in the score type too.
            max(longest_query, reference_length) + 16 < limit
            and highest + 16 < limit
            and minus_infinity + 2 * gap_extend + 16 < limit
            and lowest_diagonal + 16 < limit
        ):
            return dtype, -minus_infinity
    raise ScoringError("scores too large for 64-bit integers")


def _reference_pairs(reference: Any, reference_name: str | None) -> list[tuple[str, str]]:
    if isinstance(reference, (str, bytes)):
        text = reference.decode("ascii") if isinstance(reference, bytes) else reference
        return [(reference_name or "reference", text)]
    if isinstance(reference, Mapping):
        return [(str(name), str(sequence)) for name, sequence in reference.items()]
    pairs = []
    for number, item in enumerate(reference):
        if isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((str(item[0]), str(item[1])))
        else:
            pairs.append((f"reference{number}", str(item)))
    if not pairs:
        raise ValueError("at least one reference sequence is needed")
    return pairs


class Aligner:
    """Aligns queries against one or more references with affine gaps, exactly.

    Args:
        reference: a sequence, or a list of sequences or ``(name, sequence)`` pairs, or a dict
            of name to sequence. With several, each query's best alignment is reported (ties
            go to the first reference) unless ``all_references=True`` is asked for.
        mode: ``"global"``, ``"semiglobal"`` (query fully aligned, reference ends free),
            ``"overlap"`` (all four ends free) or ``"local"`` (Smith-Waterman).
        scoring: a :class:`~streamalign.scoring.Scoring`; or give its fields (``match``,
            ``mismatch``, ``gap_open``, ``gap_extend``, ``matrix``, ``ambiguous``,
            ``recurrence``) as keywords.
        query_start_free, query_end_free, reference_start_free, reference_end_free: override
            one end-gap switch of the mode (True: that end of the sequence may stay unaligned
            at no cost). Not valid with ``mode="local"``.
        reference_name: name of a single reference given as a string.
        reference_names: the names of the references when ``reference`` is a
            :class:`~streamalign.references.ReferenceSequences` (arrays, e.g.
            ``ReferenceSequences.from_index(index)`` for an index opened from a file: a
            database of 400,000 genes then needs no string per reference); default
            ``reference0``, ``reference1``, ...
        lanes: most queries per SIMD group (groups are also capped to keep a column of
            DP state in cache).
        memory_budget: most bytes one kernel call may use for traceback directions; a pair
            whose matrix exceeds it is traced back in the band of diagonals its optimal
            alignments use (:mod:`streamalign.kernels.banded`), and one whose band alone
            exceeds it raises :class:`AlignmentTooLargeError`.
        search: with several references, how each query's best one is found: ``"exact"``
            (default: a k-mer index bounds every reference's score and only references that
            can win are aligned; :mod:`streamalign.search`) or ``"exhaustive"`` (every
            reference), which give the same results; or a
            :class:`~streamalign.search.fast.FastSearch` (vsearch's ``--maxaccepts``,
            ``--maxrejects`` and ``--id`` rules: faster, not always the best hit).
            scikit-bio's recurrence is always exhaustive.
        index: a prebuilt :class:`~streamalign.search.index.KmerIndex` of the references
            (default: built on first use), e.g. one opened from a file by
            :func:`~streamalign.search.indexfile.load_index`.
        search_k: k-mer length of the index built on first use (default
            ``_config.SEARCH_K``; with ``index``, it must be the index's).
        device: ``"cpu"`` (default) or ``"cuda"``: the Gotoh kernel runs on an NVIDIA GPU,
            with the very same results (:mod:`streamalign.kernels.cuda`). Long pairs (the
            banded traceback) and scores that need 64-bit integers still run on the CPU
            kernels. Raises :class:`~streamalign.errors.DeviceUnavailableError` when no GPU
            (or no numba-cuda) is there.
    """

    def __init__(
        self,
        reference: Any,
        mode: str = "global",
        *,
        scoring: Scoring | None = None,
        query_start_free: bool | None = None,
        query_end_free: bool | None = None,
        reference_start_free: bool | None = None,
        reference_end_free: bool | None = None,
        reference_name: str | None = None,
        reference_names: Sequence[str] | None = None,
        lanes: int = _config.LANES,
        memory_budget: int = _config.TRACEBACK_BUDGET_BYTES,
        search: str | FastSearch = "exact",
        index: Any = None,
        search_k: int | None = None,
        device: str = "cpu",
        **scoring_fields: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if scoring is None:
            scoring = Scoring(**scoring_fields)
        elif scoring_fields:
            raise TypeError("give either scoring= or scoring fields, not both")
        if lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {lanes}")
        if memory_budget < 1:
            raise ValueError(f"memory_budget must be >= 1 byte, got {memory_budget}")
        if search == "fast":
            raise ValueError(
                "search='fast' needs its threshold: give search=FastSearch(min_identity=...) "
                "or FastSearch(min_score=...)"
            )
        if not isinstance(search, FastSearch) and search not in SEARCHES:
            raise ValueError(f"search must be one of {', '.join(SEARCHES)}, got {search!r}")
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        if device == "cuda" and scoring.recurrence == "skbio":
            raise ValueError("device='cuda' runs Gotoh's recurrence only, not recurrence='skbio'")
        ends = list(MODES[mode])
        overrides = (query_start_free, query_end_free, reference_start_free, reference_end_free)
        if mode == "local" and any(value is not None for value in overrides):
            raise ValueError("end-gap switches do not apply to mode='local'")
        for position, value in enumerate(overrides):
            if value is not None:
                ends[position] = bool(value)
        self.mode = mode
        self.scoring = scoring
        self.query_start_free, self.query_end_free = ends[0], ends[1]
        self.reference_start_free, self.reference_end_free = ends[2], ends[3]
        if scoring.recurrence == "skbio":  # fail now, not at the first batch
            from .kernels import legacy

            legacy.settings_for(self.mode, self.flags)
        self.lanes = lanes
        self.memory_budget = memory_budget
        if device == "cuda":
            from .kernels.cuda.device import require_device

            require_device()
        self.device = device
        # Per reference: batches left to align without trying windows (they recently saved
        # too little).
        self._window_skips: dict[int, int] = {}
        if isinstance(reference, ReferenceSequences):
            # (already arrays, e.g. an index file's: no string per reference)
            names = reference_names
            if names is None:
                names = [f"reference{number}" for number in range(len(reference))]
            if len(names) != len(reference):
                raise ValueError(f"{len(names)} reference names for {len(reference)} references")
            self.reference_names = [str(name) for name in names]
            self.references = reference
        else:
            if reference_names is not None:
                raise TypeError("reference_names= goes with a ReferenceSequences reference")
            pairs = _reference_pairs(reference, reference_name)
            self.reference_names = [name for name, _ in pairs]
            # One array of letters and one of codes (views of the index file's mapping when
            # the index was opened from a file and holds these references: no copy per
            # worker).
            self.references = ReferenceSequences.matching_index(
                [sequence for _, sequence in pairs], self.reference_names, index
            )
        self._reference_codes = CodeViews(self.references)
        self.search = search
        if index is not None and search_k is not None and index.k != search_k:
            raise ValueError(f"the index has k={index.k}, not search_k={search_k}")
        if search_k is None:
            search_k = index.k if index is not None else _config.SEARCH_K
        self.search_k = search_k
        from .search.index import MAX_K, MIN_K

        if not MIN_K <= self.search_k <= MAX_K:
            raise ValueError(f"search_k must be between {MIN_K} and {MAX_K}, got {self.search_k}")
        self._index = index
        self._search: Any = None
        self._search_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_search_lock"]
        state["_search"] = None  # rebuilt from the index where unpickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._search_lock = threading.Lock()

    @property
    def searches(self) -> bool:
        """Whether :meth:`align_many` finds best references by the k-mer search."""
        return (
            (self.search == "exact" or isinstance(self.search, FastSearch))
            and len(self.references) > 1
            and self.scoring.recurrence == "gotoh"
        )

    def database_search(self) -> Any:
        """The :class:`~streamalign.search.searcher.DatabaseSearch` of the references (its
        index built on first use, once per process)."""
        with self._search_lock:
            if self._search is None:
                from .search.index import index_arrays
                from .search.searcher import DatabaseSearch

                if self._index is None:
                    self._index = index_arrays(
                        np.ascontiguousarray(self.references.codes_all),
                        self.references.offsets,
                        k=self.search_k,
                        names=self.reference_names,
                        # (families pay for their build on large sets only; `streamalign
                        # index` finds them for any)
                        families=len(self.reference_names) >= _config.SEARCH_FAMILY_REFERENCES,
                    )
                self._search = DatabaseSearch(self._index, self)
            return self._search

    @property
    def flags(self) -> EndFlags:
        """End-gap switches as the kernels' flags."""
        if self.mode == "local":
            return EndFlags.LOCAL
        return EndFlags.from_ends(
            self.query_start_free,
            self.query_end_free,
            self.reference_start_free,
            self.reference_end_free,
        )

    def align(self, query: str | bytes, name: str | None = None) -> Alignment:
        """Align one query; see :meth:`align_many` for the rules."""
        names = [name] if name is not None else None
        return self.align_many([query], names=names)[0]

    def align_many(
        self,
        queries: SequenceBatch | Iterable[str | bytes],
        names: Sequence[str] | None = None,
        *,
        traceback: bool = True,
        strand: str = "forward",
        all_references: bool = False,
        min_score: float | None = None,
        min_identity: float | None = None,
    ) -> AlignmentBatch:
        """Align many queries in as few kernel calls as possible.

        Args:
            queries: a :class:`SequenceBatch` or an iterable of strings or bytes.
            names: names of the queries (used in results and error messages).
            traceback: False computes scores and end coordinates only (faster); starts are 0.
            strand: ``"forward"``, or ``"both"`` to also align the reverse complement and keep
                the better (ties keep the forward strand).
            all_references: one result per (query, reference), query-major, instead of the
                best reference per query.
            min_score, min_identity: with ``all_references``, keep only the references whose
                alignment scores at least ``min_score`` and has at least ``min_identity``
                (matches / columns), in reference order, and for a query with none its best
                alignment (which fails them) as its only record (:mod:`streamalign.thresholds`;
                ``record_queries`` says whose each record is). With the k-mer search
                (``search="exact"``), references whose proven bounds fall short are not aligned
                (:mod:`streamalign.search.passing`); the result is the same.

        Raises:
            InvalidSequenceError: a query holds a non-IUPAC character.
            AlignmentTooLargeError: a pair's traceback, even banded, does not fit
                ``memory_budget``.

        Example:
            >>> genes = [("a", "GATTACAGATTACAGGCCTTAA"), ("b", "CCGGAATTCCGGTTAACCGGAA"),
            ...          ("c", "GATTACAGATTACAGG")]
            >>> aligner = Aligner(genes, "semiglobal")
            >>> passing = aligner.align_many(["GATTACAGATTACAGG", "GGGGGGGGGGGG"],
            ...                              all_references=True, min_identity=0.95)
            >>> passing.record_queries.tolist(), passing.reference_index.tolist()
            ([0, 0, 1], [0, 2, 1])
            >>> passing.identities.round(3).tolist()  # the last: the second read's best, failing
            [1.0, 1.0, 0.333]
        """
        if strand not in STRANDS:
            raise ValueError(f"strand must be one of {', '.join(STRANDS)}, got {strand!r}")
        threshold = Threshold.of(min_score, min_identity)
        if threshold is not None and not all_references:
            raise ValueError(
                "min_score and min_identity choose among references: give all_references=True"
            )
        if threshold is not None and threshold.min_identity is not None and not traceback:
            raise ValueError("min_identity needs the alignments' columns: traceback=True")
        batch = (
            queries
            if isinstance(queries, SequenceBatch)
            else SequenceBatch.from_strings(queries, names=names)
        )
        codes = encode(batch.sequences, batch.offsets, batch.names, batch.first_record)
        if strand == "both":  # the reverse strand, computed once for every reference
            reversed_order = reversed_positions(batch.offsets)
            reverse_batch = SequenceBatch(
                batch.names,
                reverse_complement_ascii(batch.sequences, batch.offsets),
                batch.offsets,
                None if batch.qualities is None else batch.qualities[reversed_order],
                batch.index,
                batch.first_record,
                batch.comments,
            )
            reverse_codes = reverse_complement_codes(codes, batch.offsets)
        if threshold is not None and len(batch) and self._prunes(threshold):
            from .search.passing import align_passing

            return align_passing(
                self,
                batch,
                codes,
                reverse_batch if strand == "both" else None,
                reverse_codes if strand == "both" else None,
                threshold,
                traceback,
            )
        if self.searches and not all_references and len(batch):
            return self._align_searched(
                batch,
                codes,
                reverse_batch if strand == "both" else None,
                reverse_codes if strand == "both" else None,
                traceback,
            )
        candidates = []
        for reference_number in range(len(self.references)):
            candidates.append(self._align_codes(batch, codes, reference_number, traceback, False))
            if strand == "both":
                candidates.append(
                    self._align_codes(
                        reverse_batch, reverse_codes, reference_number, traceback, True
                    )
                )
        if all_references:
            if strand == "both":
                candidates = [
                    combine_best(candidates[number : number + 2])
                    for number in range(0, len(candidates), 2)
                ]
            every = interleave(candidates)
            return every if threshold is None else threshold.select(every, len(self.references))
        return combine_best(candidates)

    def prunes_all_references(
        self, min_score: float | None = None, min_identity: float | None = None
    ) -> bool:
        """Whether ``align_many(..., all_references=True, min_score=..., min_identity=...)``
        skips references by the search's bounds (several references, ``search="exact"``,
        Gotoh's recurrence, and a finite ``min_score`` or, where the query is aligned in full,
        a positive ``min_identity``) rather than aligning every one and filtering.

        Example:
            >>> aligner = Aligner(["ACGTACGTAC", "TTTTGGGGCC"], "semiglobal")
            >>> aligner.prunes_all_references(min_identity=0.97), aligner.prunes_all_references()
            (True, False)
        """
        threshold = Threshold.of(min_score, min_identity)
        return threshold is not None and self._prunes(threshold)

    def _prunes(self, threshold: Threshold) -> bool:
        from .search.passing import prunes

        return prunes(self, threshold)

    def map(
        self,
        sequences: Iterable[Any],
        *,
        workers: int = 0,
        backend: str = "threads",
        ordered: bool = True,
        batch_size: int = 1024,
        strand: str = "forward",
        all_references: bool = False,
        traceback: bool = True,
        min_score: float | None = None,
        min_identity: float | None = None,
        start_method: str | None = None,
        client: Any = None,
        scheduler: str | None = None,
    ) -> Iterator[Alignment]:
        """Align a stream of sequences on several workers, yielding results lazily.

        The input may be endless: it is read in batches of ``batch_size`` only as results are
        consumed (a bounded window of batches is in flight).

        Args:
            sequences: strings or bytes (named ``"sequence N"``), or ``(name, sequence)``
                pairs.
            workers: worker count, 0 for all CPUs (``"dask"``: the size of a local cluster
                started when neither ``client`` nor ``scheduler`` is given).
            backend: ``"threads"`` (default), ``"processes"``, ``"serial"`` or ``"dask"``.
            ordered: yield in input order (default) or as batches finish.
            batch_size: records per batch.
            strand, all_references, traceback, min_score, min_identity: as in
                :meth:`align_many`.
            start_method: process start method for ``"processes"``.
            client: ``"dask"``: an existing ``distributed.Client`` (left open).
            scheduler: ``"dask"``: a scheduler address such as ``"tcp://host:8786"``.

        Example:
            >>> import itertools
            >>> aligner = Aligner("ACGTACGT")
            >>> endless = aligner.map(itertools.repeat("ACGAACGT"), workers=2, batch_size=4)
            >>> [alignment.cigar for alignment in itertools.islice(endless, 3)]
            ['3=1X4=', '3=1X4=', '3=1X4=']
        """
        from .engine import execute

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        Threshold.of(min_score, min_identity)  # bad values fail here, not in a worker
        task = _MapTask(self, traceback, strand, all_references, min_score, min_identity)
        if self.device == "cuda" and backend == "processes" and start_method is None:
            start_method = "spawn"  # a forked child cannot use the CUDA driver of its parent
        completed_batches = execute(
            task,
            _batches_of(sequences, batch_size),
            backend=backend,
            workers=workers,
            ordered=ordered,
            start_method=start_method,
            client=client,
            scheduler=scheduler,
        )
        try:
            for completed in completed_batches:
                yield from completed.result
        finally:
            completed_batches.close()

    def _align_searched(
        self,
        batch: SequenceBatch,
        codes: np.ndarray,
        reverse_batch: SequenceBatch | None,
        reverse_codes: np.ndarray | None,
        traceback: bool,
    ) -> AlignmentBatch:
        """Each query against its best reference only, found by the database search (or its
        hit of the fast search)."""
        found: Any
        if isinstance(self.search, FastSearch):
            found = fast_best(self.database_search(), batch, codes, reverse_batch, reverse_codes)
        else:
            found = self.database_search().best(batch, codes, reverse_batch, reverse_codes)
        keys = found.references * 2 + found.reverse
        groups = []
        positions = []
        for key in np.unique(keys).tolist():
            members = np.flatnonzero(keys == key)
            reverse = bool(key % 2)
            source, source_codes = (reverse_batch, reverse_codes) if reverse else (batch, codes)
            assert source is not None and source_codes is not None
            subset, subset_codes = _take_records(source, source_codes, members)
            group = self._align_codes(subset, subset_codes, key // 2, traceback, reverse)
            if not np.array_equal(group.integer_scores, found.scores[members]):
                raise RuntimeError("internal error: the search and the alignment disagree")
            groups.append(group)
            positions.append(members)
        result = _scatter(groups, positions, batch, reverse_batch)
        result.aligned_candidates = found.aligned
        if not isinstance(self.search, FastSearch):  # (the fast search aligns whole reads)
            result.half_aligned_candidates = found.halved
            result.family_bounded_candidates = found.related
        return result

    def _scores_against(
        self, query_codes: np.ndarray, reference_numbers: np.ndarray, name: str
    ) -> np.ndarray:
        """Optimal scores of one query against several references in one kernel call.

        The roles are swapped: the references are the kernel's queries (its SIMD lanes) and
        the query its reference, with the end switches and the substitution table swapped
        to match, so every score equals the one of aligning the query to that reference (the
        recurrence is symmetric in its two sequences). Used by the database search, which
        needs many references' scores for one read.
        """
        codes = [self._reference_codes[number] for number in reference_numbers.tolist()]
        lengths = np.array([len(item) for item in codes], dtype=np.int64)
        offsets = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        longest = int(lengths.max())
        dtype, minus_infinity = _score_dtype(self.scoring, longest, len(query_codes))
        if self.mode == "local":
            flags = EndFlags.LOCAL
        else:
            flags = EndFlags.from_ends(
                self.reference_start_free,
                self.reference_end_free,
                self.query_start_free,
                self.query_end_free,
            )
        plan = self._plan(
            lengths,
            len(query_codes),
            traceback=False,
            score_bytes=np.dtype(dtype).itemsize,
            order=np.argsort(lengths, kind="stable").astype(np.int64),
            names=[name] * len(codes),
        )
        inputs = KernelInput(
            query_codes=np.concatenate(codes),
            query_offsets=offsets,
            reference_codes=query_codes,
            plan=plan,
            scoring=KernelScoring.create(
                self.scoring.integer_matrix.T,
                self.scoring.match_table.T,
                self.scoring.integer_gap_open,
                self.scoring.integer_gap_extend,
                minus_infinity,
                dtype,
            ),
            ends=flags,
            traceback=False,
        )
        outputs = KernelOutputs.allocate(lengths, len(query_codes), False)
        # (A lone long gene, with a long read, takes the staggered kernel.)
        self._score_only(inputs, outputs, plan.order)
        return outputs.scores.astype(np.int64)

    def _kernel_scoring(self, minus_infinity: int, dtype: type) -> KernelScoring:
        """This aligner's integer scoring in the kernel's number type."""
        return KernelScoring.create(
            self.scoring.integer_matrix,
            self.scoring.match_table,
            self.scoring.integer_gap_open,
            self.scoring.integer_gap_extend,
            minus_infinity,
            dtype,
        )

    def _plan(
        self,
        lengths: np.ndarray,
        reference_length: int,
        *,
        traceback: bool,
        score_bytes: int,
        order: np.ndarray | None = None,
        names: Sequence[str] | None = None,
    ) -> planning.GroupPlan:
        """Groups of the queries ``order`` lists, under this aligner's lanes and budget."""
        return planning.plan_groups(
            lengths,
            reference_length,
            lanes=self.lanes,
            memory_budget=self.memory_budget,
            traceback=traceback,
            score_bytes=score_bytes,
            names=names,
            order=order,
        )

    def _align_codes(
        self,
        batch: SequenceBatch,
        codes: np.ndarray,
        reference_number: int,
        traceback: bool,
        reverse: bool,
    ) -> AlignmentBatch:
        reference = self._reference_codes[reference_number]
        if self.scoring.recurrence == "skbio":
            outputs = self._align_legacy(batch, codes, reference, traceback)
        else:
            outputs = self._align_gotoh(batch, codes, reference, reference_number, traceback)
        return AlignmentBatch.from_kernel_outputs(
            outputs,
            queries=batch,
            references=self.references,
            reference_names=self.reference_names,
            scoring=self.scoring,
            reference_number=reference_number,
            reverse=reverse,
            has_alignment=traceback,
        )

    def _align_gotoh(
        self,
        batch: SequenceBatch,
        codes: np.ndarray,
        reference: np.ndarray,
        reference_number: int,
        traceback: bool,
    ) -> KernelOutputs:
        """Gotoh's recurrence: one kernel call, or a score pass and windowed tracebacks; long
        pairs take a score pass and a banded traceback (:mod:`streamalign.kernels.banded`)."""
        lengths = np.diff(batch.offsets)
        longest = int(lengths.max()) if len(lengths) else 0
        dtype, minus_infinity = _score_dtype(self.scoring, longest, len(reference))
        order = np.argsort(lengths, kind="stable").astype(np.int64)
        in_bands = self._banded_queries(lengths, len(reference), order) if traceback else order[:0]
        regular = order[~np.isin(order, in_bands)] if len(in_bands) else order
        # Planned even when the windows are used: the same memory-budget errors either way.
        plan = self._plan(
            lengths,
            len(reference),
            traceback=traceback,
            score_bytes=np.dtype(dtype).itemsize,
            names=batch.names,
            order=regular,
        )
        inputs = KernelInput(
            query_codes=codes,
            query_offsets=batch.offsets.astype(np.int64),
            reference_codes=reference,
            plan=plan,
            scoring=self._kernel_scoring(minus_infinity, dtype),
            ends=self.flags,
            traceback=traceback,
        )
        outputs = KernelOutputs.allocate(lengths, len(reference), traceback)
        kernel = self._gotoh_kernel(dtype)
        if len(in_bands):
            self._align_banded(inputs, outputs, in_bands, batch.names)
            if len(regular):
                self._run_traceback(kernel, inputs, outputs)
        elif not traceback and kernel is gotoh:
            self._score_only(inputs, outputs, order)
        elif not (
            traceback
            and self._windows_may_help(longest, reference_number)
            and self._align_in_windows(inputs, outputs, reference_number)
        ):
            self._run_traceback(kernel, inputs, outputs)
        return outputs

    def _difference_inputs(self, inputs: KernelInput, members: int) -> KernelInput | None:
        """``inputs`` in ``int8`` for :mod:`streamalign.kernels.differences`, or None where
        the 16-bit kernel is to run: scores the difference kernel cannot hold exactly (see
        ``differences.fits``), local mode, pairs below ``_config.DIFFERENCE_MIN_CELLS``, and
        calls for one query (``members``): one lane of the 16-bit kernel beat a 64-lane
        register of which one lane is used (``python benchmarks/differences.py --part
        lanes``: a 250-bp read against a 1,500-bp gene, one core, 0.94 ms against 1.49
        score-only, 1.65 against 2.03 with traceback. From two reads on, the difference
        kernel's time stays flat, about 1.5 and 1.9-2.0 ms, up to 64 reads; the 16-bit kernel's
        varies with how its lane loop splits: 0.8-2.6 and 1.3-6.1 ms)."""
        if not (
            _config.DIFFERENCE_KERNEL
            and self.device == "cpu"
            and members > 1
            and int(inputs.lengths.max()) * len(inputs.reference_codes)
            >= _config.DIFFERENCE_MIN_CELLS
            and differences.fits(
                self.scoring.integer_matrix,
                self.scoring.integer_gap_open,
                self.scoring.integer_gap_extend,
                inputs.ends,
            )
        ):
            return None
        scoring = self._kernel_scoring(differences.MINUS_INFINITY, np.int8)
        return dataclasses.replace(inputs, scoring=scoring)

    def _run_scores(self, inputs: KernelInput, outputs: KernelOutputs, members: np.ndarray) -> None:
        """Score-only kernel call for ``members`` (sorted by length): the difference kernel
        where :meth:`_difference_inputs` allows, else the Gotoh kernel in ``inputs``' type."""
        inputs = dataclasses.replace(inputs, traceback=False)
        narrow = self._difference_inputs(inputs, len(members))
        if narrow is None:
            plan = self._plan_inputs(inputs, members, traceback=False)
            gotoh.run(dataclasses.replace(inputs, plan=plan), outputs)
            return
        plan = self._plan_inputs(narrow, members, traceback=False)
        differences.run(dataclasses.replace(narrow, plan=plan), outputs)

    def _run_traceback(
        self,
        kernel: Any,
        inputs: KernelInput,
        outputs: KernelOutputs,
        windows: Sequence[planning.WindowGroup] | None = None,
    ) -> None:
        """``kernel.run`` (or ``run_windows``) of ``inputs``; alignments with traceback take
        the 8-bit difference kernel instead where it computes the same alignments
        (:mod:`streamalign.kernels.differences`: the CPU, not local, small scores, pairs of at
        least ``_config.DIFFERENCE_MIN_CELLS``): twice the lanes per register, in groups
        planned for its 1-byte column state."""
        planned = len(inputs.plan.order) if windows is None else len(inputs.query_offsets) - 1
        narrow = self._difference_inputs(inputs, planned) if kernel is gotoh else None
        if narrow is None:
            if windows is None:
                kernel.run(inputs, outputs)
            else:
                kernel.run_windows(inputs, outputs, windows)
            return
        if windows is None:
            plan = self._plan_inputs(narrow, inputs.plan.order, traceback=True)
            differences.run(dataclasses.replace(narrow, plan=plan), outputs)
        else:
            differences.run_windows(narrow, outputs, windows)

    def _gotoh_kernel(self, dtype: type) -> Any:
        """The Gotoh kernel module to call (``run``, ``run_windows``): the CUDA kernel with
        ``device="cuda"`` (which computes in int32: 64-bit scores stay on the CPU), else the
        CPU kernel. Long pairs take the CPU's banded traceback either way."""
        if self.device == "cuda" and dtype is not np.int64:
            from .kernels.cuda import runner

            return runner
        return gotoh

    def _plan_inputs(
        self,
        inputs: KernelInput,
        order: np.ndarray,
        *,
        traceback: bool,
        names: Sequence[str] | None = None,
    ) -> planning.GroupPlan:
        """Groups of the queries ``order`` lists (sorted by length) of ``inputs``, against
        its reference, in its score type."""
        return self._plan(
            inputs.lengths,
            len(inputs.reference_codes),
            traceback=traceback,
            score_bytes=inputs.scoring.substitution.itemsize,
            order=order,
            names=names,
        )

    def _end_switches(self) -> tuple[bool, bool, bool, bool]:
        return (
            self.query_start_free,
            self.query_end_free,
            self.reference_start_free,
            self.reference_end_free,
        )

    def _banded_queries(
        self, lengths: np.ndarray, reference_length: int, order: np.ndarray
    ) -> np.ndarray:
        """The queries (in ``order``) to align in bands: pairs of at least
        ``_config.BAND_MIN_CELLS`` cells or over the memory budget, unless even their
        narrowest band (:func:`streamalign.windowing.narrowest_bands`) is no smaller than
        the full matrix (a query much longer than the reference, globally)."""
        if reference_length == 0 or not len(lengths):
            return order[:0]
        cells = lengths.astype(np.int64) * reference_length
        floor = windowing.narrowest_bands(
            lengths, reference_length, self._end_switches(), self.mode == "local"
        )
        wanted = (
            ((cells >= _config.BAND_MIN_CELLS) | (cells > self.memory_budget))
            & (floor < cells)
            & (lengths > 0)
        )
        return order[wanted[order]]

    def _align_banded(
        self,
        inputs: KernelInput,
        outputs: KernelOutputs,
        members: np.ndarray,
        names: Sequence[str] | None,
    ) -> None:
        """Banded traceback of ``members`` (fills ``outputs`` for them): growing bands where
        the end cell is fixed (:meth:`_align_in_growing_bands`), else a score-only pass, the
        bands of its scores and end cells, and one banded traceback. A member whose band is
        no smaller than its full matrix, which fits the budget, gets the full-matrix
        traceback instead (``_config.BAND_USE_FRACTION``)."""
        reference = inputs.reference_codes
        reference_length = len(reference)
        lengths = inputs.lengths
        local = self.mode == "local"
        ends = self._end_switches()
        # Turn down what cannot fit before paying for the score pass.
        planning.plan_bands(
            members,
            windowing.narrowest_bands(lengths, reference_length, ends, local),
            lengths,
            reference_length,
            memory_budget=self.memory_budget,
            names=names,
            lower_bound=True,
        )
        if not local and not ends[1] and not ends[3]:
            self._align_in_growing_bands(inputs, outputs, members, names)
            return
        scored = KernelOutputs.allocate(lengths, reference_length, False)
        self._score_only(dataclasses.replace(inputs, traceback=False), scored, members)
        count = len(lengths)
        lower = np.zeros(count, np.int64)
        upper = np.zeros(count, np.int64)
        end_rows = np.zeros(count, np.int64)
        end_columns = np.zeros(count, np.int64)
        end_rows[members] = scored.query_ends[members]
        end_columns[members] = scored.reference_ends[members]
        lower[members], upper[members] = windowing.band_diagonals(
            scored.scores[members],
            end_rows[members],
            end_columns[members],
            self.scoring,
            ends,
            local,
        )
        cells = planning.band_cells(end_rows, lower, upper)
        if not local and not ends[0] and ends[2]:
            # The query's start fixed, the reference's free: the start columns of the optimal
            # alignments, from a reverse pass, narrow a band over the budget.
            wide = cells[members] > min(self.memory_budget, _config.BAND_FROM_STARTS_CELLS)
            for member in members[wide].tolist():
                lower[member], upper[member] = self._band_from_starts(
                    inputs,
                    member,
                    int(scored.scores[member]),
                    int(end_rows[member]),
                    int(end_columns[member]),
                    (int(lower[member]), int(upper[member])),
                )
            cells = planning.band_cells(end_rows, lower, upper)
        full_cells = lengths.astype(np.int64) * reference_length
        fallback = (cells[members] >= _config.BAND_USE_FRACTION * full_cells[members]) & (
            full_cells[members] <= self.memory_budget
        )
        if fallback.any():
            full_plan = self._plan_inputs(inputs, members[fallback], traceback=True, names=names)
            gotoh.run(dataclasses.replace(inputs, plan=full_plan), outputs)
            members = members[~fallback]
        if len(members):
            self._run_bands(inputs, outputs, members, lower, upper, end_rows, end_columns, names)
        if not np.array_equal(outputs.scores[members], scored.scores[members]):
            raise RuntimeError("the banded traceback disagrees with the score-only pass")

    def _band_from_starts(
        self,
        inputs: KernelInput,
        member: int,
        score: int,
        end_row: int,
        end_column: int,
        band: tuple[int, int],
    ) -> tuple[int, int]:
        """A narrower band for query ``member``, whose start is fixed and the reference's
        free: ``band`` (every optimal alignment ending at ``(end_row, end_column)`` lies in
        it) intersected with the union of the bands of fixed-end alignments from each
        optimal start.

        An optimal alignment starts in row 0 at a column ``s`` (its diagonal, so ``s >=
        band[0]``). The reverse pass (the query and reference prefixes reversed, starting at
        the end cell, the reference's far end free: :mod:`streamalign.kernels.staggered`)
        gives the best score from every such ``s`` to the end cell; those equal to ``score``
        are the optimal starts. From a fixed start the difference of deletions and insertions
        is fixed, so :func:`streamalign.windowing.band_diagonals` bounds a path's diagonals
        about twice as tightly as from the score alone. Every optimal alignment ending at the
        end cell starts at one of these columns, so it lies in the union of their bands, and
        the banded traceback finds the same alignment (:mod:`streamalign.kernels.banded`).
        """
        offset = int(inputs.query_offsets[member])
        left = max(band[0], 0)
        query = inputs.query_codes[offset : offset + end_row][::-1].copy()
        reference = inputs.reference_codes[left:end_column][::-1].copy()
        if not len(query) or not len(reference):
            return band
        dtype, minus_infinity = _score_dtype(self.scoring, len(query), len(reference))
        dtype = np.int32 if dtype is np.int16 else dtype
        scoring = self._kernel_scoring(minus_infinity, dtype)
        last_row = np.zeros(len(reference) + 1, np.int64)
        found, _, _ = staggered.score_pair(
            query,
            reference,
            scoring.substitution,
            scoring.parameters,
            int(EndFlags.REFERENCE_END_FREE),
            _config.STAGGERED_LANES,
            last_row,
        )
        if found != score:
            raise RuntimeError("the reverse pass disagrees with the score-only pass")
        starts = end_column - np.flatnonzero(last_row == score).astype(np.int64)
        count = len(starts)
        relative_lower, relative_upper = windowing.band_diagonals(
            np.full(count, score, np.int64),
            np.full(count, end_row, np.int64),
            end_column - starts,
            self.scoring,
            (False, False, False, False),
            False,
        )
        return (
            max(band[0], int((relative_lower + starts).min())),
            min(band[1], int((relative_upper + starts).max())),
        )

    def _score_only(self, inputs: KernelInput, outputs: KernelOutputs, members: np.ndarray) -> None:
        """Score-only alignment of ``members`` (fills their scores and end cells): the
        inter-sequence kernel, except long queries that would sit in a group of at most
        ``_config.STAGGERED_MAX_GROUP_LANES`` lanes (a lone long pair: one lane, 0.15-0.4
        GCUPS), which the staggered kernel aligns one at a time on all lanes
        (:mod:`streamalign.kernels.staggered`: the same scores and end cells, about 2 GCUPS)."""
        lengths = inputs.lengths
        reference_length = len(inputs.reference_codes)
        plan = self._plan_inputs(inputs, members, traceback=False)
        cells = lengths.astype(np.int64) * reference_length
        alone = np.zeros(len(lengths), bool)
        for group, size in enumerate(plan.lanes.tolist()):
            if size <= _config.STAGGERED_MAX_GROUP_LANES:
                group_members = plan.order[plan.starts[group] : plan.starts[group + 1]]
                alone[group_members] = cells[group_members] >= _config.STAGGERED_MIN_CELLS
        alone[lengths == 0] = False
        if not alone.any() or reference_length == 0:
            self._run_scores(inputs, outputs, plan.order)
            return
        staggered.run(inputs, outputs, members[alone[members]])
        rest = members[~alone[members]]
        if len(rest):
            self._run_scores(inputs, outputs, rest)

    def _align_in_growing_bands(
        self,
        inputs: KernelInput,
        outputs: KernelOutputs,
        members: np.ndarray,
        names: Sequence[str] | None,
    ) -> None:
        """Banded traceback without a score pass, for modes whose end cell is fixed
        (``(len(query), len(reference))``: neither end free, not local).

        A band's DP scores at most the optimum ``S`` (it sees a subset of the paths), and
        :func:`streamalign.windowing.band_diagonals` of a lower score is a wider band: the
        band of the score found holds every optimal alignment. So: align in a narrow band
        around the diagonals the ends force (``_config.BAND_INITIAL_MARGIN`` on each side);
        where the band of its score is not inside it, align again in a band twice as wide
        (or at once in the band of its score, when that is at most 4 times the cells), until
        it is. The last run's alignment is then the full matrix's, ties included (see
        :mod:`streamalign.kernels.banded`). A query whose proven band would hold at least
        ``_config.BAND_USE_FRACTION`` of its full matrix, which fits the budget, is aligned on
        the full matrix instead.
        """
        lengths = inputs.lengths
        reference_length = len(inputs.reference_codes)
        ends = self._end_switches()
        count = len(lengths)
        end_rows = lengths.astype(np.int64)
        end_columns = np.full(count, reference_length, np.int64)
        diagonal = end_columns - end_rows
        start_fixed = not ends[0] and not ends[2]
        low_end = np.minimum(diagonal, 0) if start_fixed else diagonal
        high_end = np.maximum(diagonal, 0) if start_fixed else diagonal
        # The widest margin whose band fits the budget.
        fitting = np.maximum(
            (self.memory_budget // np.maximum(end_rows, 1) - (high_end - low_end + 1)) // 2, 0
        )
        margin = np.minimum(np.full(count, _config.BAND_INITIAL_MARGIN, np.int64), fitting)
        lower = np.maximum(low_end - margin, -end_rows)
        upper = np.minimum(high_end + margin, end_columns)
        full_cells = end_rows * reference_length
        full_members = [members[:0]]
        pending = members
        while len(pending):
            self._run_bands(inputs, outputs, pending, lower, upper, end_rows, end_columns, names)
            need_lower, need_upper = windowing.band_diagonals(
                outputs.scores[pending],
                end_rows[pending],
                end_columns[pending],
                self.scoring,
                ends,
                False,
            )
            inside = (need_lower >= lower[pending]) & (need_upper <= upper[pending])
            need_cells = planning.band_cells(end_rows[pending], need_lower, need_upper)
            cells = planning.band_cells(end_rows[pending], lower[pending], upper[pending])
            grow = ~inside
            # Bands that would hold the whole matrix (unrelated sequences score low): the
            # vectorized full-matrix traceback, where it fits the budget.
            pending_full = full_cells[pending]
            to_full = (
                grow
                & (need_cells >= _config.BAND_USE_FRACTION * pending_full)
                & (pending_full <= self.memory_budget)
            )
            full_members.append(pending[to_full])
            grow &= ~to_full
            at_most = margin[pending] >= fitting[pending]
            jump = grow & (need_cells <= self.memory_budget) & ((need_cells <= 4 * cells) | at_most)
            doubled = grow & ~jump
            # A band that cannot grow within the budget: the band of the score found decides.
            if np.any(doubled & at_most):
                all_cells = np.zeros(count, np.int64)
                all_cells[pending] = need_cells
                planning.plan_bands(
                    pending[doubled & at_most],
                    all_cells,
                    lengths,
                    reference_length,
                    memory_budget=self.memory_budget,
                    names=names,
                )
            margin[pending] = np.where(
                doubled,
                np.minimum(np.maximum(2 * margin[pending], 1), fitting[pending]),
                margin[pending],
            )
            wide_lower = np.maximum(low_end[pending] - margin[pending], need_lower)
            wide_upper = np.minimum(high_end[pending] + margin[pending], need_upper)
            new_lower = np.where(jump, need_lower, np.where(doubled, wide_lower, lower[pending]))
            new_upper = np.where(jump, need_upper, np.where(doubled, wide_upper, upper[pending]))
            lower[pending] = new_lower
            upper[pending] = new_upper
            pending = pending[grow]
        in_full = np.sort(np.concatenate(full_members))
        if len(in_full):
            full_plan = self._plan_inputs(
                inputs,
                in_full[np.argsort(lengths[in_full], kind="stable")],
                traceback=True,
                names=names,
            )
            gotoh.run(dataclasses.replace(inputs, plan=full_plan), outputs)

    def _run_bands(
        self,
        inputs: KernelInput,
        outputs: KernelOutputs,
        members: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        end_rows: np.ndarray,
        end_columns: np.ndarray,
        names: Sequence[str] | None,
    ) -> None:
        """One banded kernel call for ``members`` (band arrays indexed by query number)."""
        band_plan = planning.plan_bands(
            members,
            planning.band_cells(end_rows, lower, upper),
            inputs.lengths,
            len(inputs.reference_codes),
            memory_budget=self.memory_budget,
            names=names,
        )
        band_inputs = BandInput(
            kernel=dataclasses.replace(
                inputs,
                plan=band_plan,
                scoring=self._kernel_scoring(-(2**60), np.int64),
            ),
            lower_diagonals=lower,
            upper_diagonals=upper,
            end_rows=end_rows,
            end_columns=end_columns,
        )
        banded.run(band_inputs, outputs)

    def _align_legacy(
        self, batch: SequenceBatch, codes: np.ndarray, reference: np.ndarray, traceback: bool
    ) -> KernelOutputs:
        """scikit-bio's recurrence; the query plays its ``seq1``. In ``overlap`` mode the free
        end gaps are left out of the operations and spans, as the Gotoh path does."""
        from .kernels import legacy

        scoring = self.scoring
        return legacy.align_arrays(
            codes,
            batch.offsets,
            reference,
            scoring.integer_matrix.astype(np.float64) / scoring.scale,
            scoring.integer_gap_open / scoring.scale,
            scoring.integer_gap_extend / scoring.scale,
            legacy.settings_for(self.mode, self.flags),
            match_table=scoring.match_table,
            traceback=traceback,
            trim_free_end_gaps=True,
            lanes=self.lanes,
            memory_budget=self.memory_budget,
            names=batch.names,
        )

    def _windows_may_help(self, longest: int, reference_number: int) -> bool:
        """Whether to try a windowed traceback (see :mod:`streamalign.windowing`)."""
        windowed_modes = self.mode == "local" or (
            self.reference_start_free
            and self.reference_end_free
            and not self.query_start_free
            and not self.query_end_free
        )
        if not windowed_modes or self.scoring.integer_gap_extend <= 0:
            return False
        reference_length = len(self._reference_codes[reference_number])
        if longest == 0 or reference_length < _config.WINDOW_MIN_REFERENCE_RATIO * longest:
            return False
        skips = self._window_skips.get(reference_number, 0)
        if skips > 0:  # recent batches gained nothing: no score pass for a while
            self._window_skips[reference_number] = skips - 1
            return False
        return True

    def _align_in_windows(
        self, inputs: KernelInput, outputs: KernelOutputs, reference_number: int
    ) -> bool:
        """Score-only pass, then traceback in windows. False when the windows would save too
        little, or (never seen) disagree with the score pass: the caller then fills
        ``outputs`` from the full matrix."""
        local = self.mode == "local"
        reference = inputs.reference_codes
        lengths = inputs.lengths
        scored = KernelOutputs.allocate(lengths, len(reference), False)
        kernel = self._gotoh_kernel(inputs.scoring.substitution.dtype.type)
        if kernel is gotoh:
            self._run_scores(inputs, scored, inputs.plan.order)
        else:
            score_plan = self._plan_inputs(inputs, inputs.plan.order, traceback=False)
            kernel.run(dataclasses.replace(inputs, plan=score_plan, traceback=False), scored)
        starts = windowing.window_starts(
            scored.scores,
            scored.reference_ends,
            scored.query_ends if local else lengths,
            self.scoring,
            local,
        )
        # Lanes per group: the fewest of the full plan, so every group fits its budget too.
        groups = planning.plan_windows(
            starts,
            scored.reference_ends,
            lengths,
            int(inputs.plan.lanes.min()),
            len(reference),
        )
        windowed = planning.group_cells(groups)
        full = int(lengths.max()) * len(reference) * len(lengths)
        if windowed > _config.WINDOW_KEEP_FRACTION * full:
            self._window_skips[reference_number] = _config.WINDOW_SKIPS
        if windowed > _config.WINDOW_USE_FRACTION * full:
            return False
        self._run_traceback(kernel, inputs, outputs, groups)
        for group in groups:
            members = group.plan.order
            outputs.reference_starts[members] += group.left
            outputs.reference_ends[members] += group.left
        # The windows must find the score pass's ends (always so; were it not, the caller
        # would align on the full matrix, the ground truth).
        return bool(
            np.array_equal(outputs.scores, scored.scores)
            and np.array_equal(outputs.reference_ends, scored.reference_ends)
        )


class _MapTask:
    """Aligns one batch for :meth:`Aligner.map` (picklable: sent once to each worker)."""

    def __init__(
        self,
        aligner: Aligner,
        traceback: bool,
        strand: str,
        all_references: bool,
        min_score: float | None = None,
        min_identity: float | None = None,
    ):
        self.aligner = aligner
        self.traceback = traceback
        self.strand = strand
        self.all_references = all_references
        self.min_score = min_score
        self.min_identity = min_identity

    def __call__(self, batch: SequenceBatch) -> AlignmentBatch:
        return self.aligner.align_many(
            batch,
            traceback=self.traceback,
            strand=self.strand,
            all_references=self.all_references,
            min_score=self.min_score,
            min_identity=self.min_identity,
        )


def _batches_of(sequences: Iterable[Any], batch_size: int) -> Iterator[SequenceBatch]:
    """Group a stream of sequences (or ``(name, sequence)`` pairs) into batches."""
    iterator = iter(sequences)
    first_record = 0
    index = 0
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            return
        names = []
        texts = []
        for offset, item in enumerate(chunk):
            if isinstance(item, tuple):
                names.append(str(item[0]))
                texts.append(item[1])
            else:
                names.append(f"sequence {first_record + offset}")
                texts.append(item)
        yield SequenceBatch.from_strings(texts, names=names, index=index, first_record=first_record)
        first_record += len(chunk)
        index += 1


def combine_best(candidates: list[AlignmentBatch]) -> AlignmentBatch:
    """Per record, the candidate with the highest score (ties: the earliest candidate)."""
    if len(candidates) == 1:
        return candidates[0]
    scores = np.stack([candidate.integer_scores for candidate in candidates])
    winner = np.argmax(scores, axis=0)
    return _select(candidates, winner)


def interleave(candidates: list[AlignmentBatch]) -> AlignmentBatch:
    """Records ``[q0 c0, q0 c1, ..., q1 c0, ...]``: every candidate of each query in turn."""
    if len(candidates) == 1:
        return candidates[0]
    count = len(candidates[0])
    width = len(candidates)
    winner = np.tile(np.arange(width), count)
    record = np.repeat(np.arange(count), width)
    return _select(candidates, winner, record)


def _select(
    candidates: list[AlignmentBatch], winner: np.ndarray, record: np.ndarray | None = None
) -> AlignmentBatch:
    """Build a batch taking record ``record[k]`` from candidate ``winner[k]``."""
    if record is None:
        record = np.arange(len(winner))
    first = candidates[0]

    def pick(attribute: str) -> np.ndarray:
        stacked = np.stack([getattr(candidate, attribute) for candidate in candidates])
        return stacked[winner, record]

    operation_lengths = np.stack([np.diff(c.operation_offsets) for c in candidates])[winner, record]
    operation_offsets = np.zeros(len(winner) + 1, dtype=np.int64)
    np.cumsum(operation_lengths, out=operation_offsets[1:])
    pieces = [
        candidates[number].record_operations(position)
        for number, position in zip(winner.tolist(), record.tolist(), strict=True)
    ]
    operations = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
    reverse = pick("reverse")
    queries = first.queries
    if len(record) != len(first):
        queries = queries.take(record)
    # Each record's sequence comes from the candidate that won it. A candidate's queries may
    # already mix strands (all_references=True with strand="both" combines each reference's
    # two strands first), so one forward and one reverse source showed the wrong strand.
    for number, candidate in enumerate(candidates[1:], start=1):
        chosen = winner == number
        if chosen.any():
            source = candidate.queries
            if len(record) != len(first):
                source = source.take(record)
            queries = _merge_strands(queries, source, chosen)
    return AlignmentBatch(
        queries=queries,
        references=first.references,
        reference_names=first.reference_names,
        scoring=first.scoring,
        integer_scores=pick("integer_scores"),
        query_starts=pick("query_starts"),
        query_ends=pick("query_ends"),
        reference_starts=pick("reference_starts"),
        reference_ends=pick("reference_ends"),
        counts=np.stack([c.counts for c in candidates])[winner, record],
        operations=operations.astype(np.uint8),
        operation_offsets=operation_offsets,
        reference_index=pick("reference_index"),
        reverse=reverse,
        has_alignment=first.has_alignment,
    )


def _take_records(
    batch: SequenceBatch, codes: np.ndarray, selected: np.ndarray
) -> tuple[SequenceBatch, np.ndarray]:
    """Records ``selected`` of ``batch`` (qualities too) and their codes."""
    subset = batch.take(selected)
    starts = batch.offsets[selected]
    return subset, codes[_gather_indices(starts, np.diff(subset.offsets))]


def _scatter(
    groups: list[AlignmentBatch],
    positions: list[np.ndarray],
    batch: SequenceBatch,
    reverse_batch: SequenceBatch | None,
) -> AlignmentBatch:
    """One batch in ``batch``'s record order from groups of its records (``positions[g]``
    are group ``g``'s records)."""
    count = len(batch)
    where = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    order = np.empty(count, dtype=np.int64)
    order[where] = np.arange(count)

    def gather(attribute: str) -> np.ndarray:
        return np.concatenate([getattr(group, attribute) for group in groups])[order]

    operation_lengths = np.concatenate([np.diff(g.operation_offsets) for g in groups])
    operation_starts = np.concatenate(
        [g.operation_offsets[:-1] + shift for g, shift in zip(groups, _shifts(groups), strict=True)]
    )
    all_operations = np.concatenate([g.operations for g in groups])
    lengths = operation_lengths[order]
    operation_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=operation_offsets[1:])
    operations = all_operations[_gather_indices(operation_starts[order], lengths)]
    reverse = gather("reverse")
    queries = batch
    if reverse_batch is not None and reverse.any():
        queries = _merge_strands(batch, reverse_batch, reverse)
    first = groups[0]
    return AlignmentBatch(
        queries=queries,
        references=first.references,
        reference_names=first.reference_names,
        scoring=first.scoring,
        integer_scores=gather("integer_scores"),
        query_starts=gather("query_starts"),
        query_ends=gather("query_ends"),
        reference_starts=gather("reference_starts"),
        reference_ends=gather("reference_ends"),
        counts=np.concatenate([g.counts for g in groups])[order],
        operations=operations.astype(np.uint8),
        operation_offsets=operation_offsets,
        reference_index=gather("reference_index"),
        reverse=reverse,
        has_alignment=first.has_alignment,
    )


def _shifts(groups: list[AlignmentBatch]) -> list[int]:
    """Where each group's operations start in their concatenation."""
    sizes = [len(group.operations) for group in groups]
    return [int(value) for value in np.concatenate(([0], np.cumsum(sizes)[:-1]))]


def _merge_strands(
    forward: SequenceBatch, reverse: SequenceBatch, use_reverse: np.ndarray
) -> SequenceBatch:
    """Sequences from ``reverse`` where ``use_reverse`` is set, else from ``forward``."""
    mask = np.repeat(use_reverse, np.diff(forward.offsets))
    sequences = np.where(mask, reverse.sequences, forward.sequences)
    qualities = None
    if forward.qualities is not None and reverse.qualities is not None:
        qualities = np.where(mask, reverse.qualities, forward.qualities)
    return SequenceBatch(
        forward.names,
        sequences,
        forward.offsets,
        qualities,
        forward.index,
        forward.first_record,
        forward.comments,
    )


def align(
    query: str | bytes, reference: str | bytes, mode: str = "global", **options: Any
) -> Alignment:
    """Align one query against one reference.

    Example:
        >>> align("ACGTTGCA", "ACGTGCA", mode="global").cigar
        '3=1I4='
        >>> align("TTTTACGTACGTTTTT", "GGACGTACGTGG", mode="local", match=2, mismatch=-3).cigar
        '8='
    """
    return Aligner(reference, mode, **options).align(query)
