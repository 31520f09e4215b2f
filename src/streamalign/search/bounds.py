"""An upper bound on a read's alignment score against a reference, from their shared k-mers.

The database search (:mod:`streamalign.search.searcher`) aligns a read against references in
decreasing order of this bound and stops when no remaining reference's bound can reach the best
score found, so the bound must never be below the exact optimal score. Everything is in the
scoring's scaled integers (:class:`~streamalign.scoring.Scoring`).

Notation: query (read) of length ``m``, reference of length ``n``, k-mer length ``k``; the
query has ``W = m - k + 1`` *windows* (its k-mers, by position). ``C`` is the number of windows
whose k-mer is made of ``A C G T`` and occurs somewhere in the reference; ``D = W - C``. Let
``s_max`` be the best substitution score of any pair of letters present (query letter,
reference letter), ``s_plain`` the best score of two different letters of ``A C G T``,
``s_amb`` the best of a pair holding another letter (``N``, ``R``, ...), ``A`` the number of
such letters in the query and the reference together, and ``o >= e >= 0`` the gap open and
extend costs.

**Claim.** Every alignment of the query to the reference, in every mode, scores at most::

    U = m * s_max - max(ceil(D * rho), L)

    rho = min( (s_max - s_plain) / k,        a mismatch column
               o / (k - 1),                  a deletion between two query letters
               (s_max + o) / k, s_max + e,   inserted query letters
               s_max  [only if a query end is free, or local] )   query letters left out

when ``A = 0``; with ambiguous letters see the refinement below.

``L`` is the length term below. (If ``s_max <= 0`` no bound is claimed: ``U`` is
:data:`NO_BOUND`.)

**Proof.** Fix an alignment. Every query letter is in one of three states: in a column with a
reference letter, inserted (a column against a gap), or left out (beyond the aligned part, at
a free query end or outside a local alignment). The score is the sum of its columns'
substitution scores minus its penalized gap costs, so it equals ``m * s_max`` minus the
*loss*: ``s_max - s(a, b)`` for each column, ``s_max`` for each inserted or left-out letter,
and each penalized gap run's cost. Every term is ``>= 0``. Call *defects* the mismatch
columns (pairs other than two equal ``A C G T`` letters), the runs of inserted letters, the
deletion runs between two query letters, and the left-out letters. A window with no defect
is k query letters in consecutive columns against k consecutive reference letters, all equal
``A C G T`` pairs: its k-mer occurs in the reference. So each of the ``D`` windows whose
k-mer does not occur contains a defect, and ``D <= sum over defects of the windows each can
touch``:

- a mismatch column of two ``A C G T`` letters touches at most ``k`` windows, at a loss of
  at least ``s_max - s_plain``; one holding another letter, at least ``s_max - s_amb``;
- a deletion run between query letters ``p`` and ``p + 1`` touches the ``k - 1`` windows
  holding both, at a cost of at least ``o``;
- a run of ``g`` inserted letters touches at most ``g + k - 1`` windows at a loss of at least
  ``g * s_max + o + (g - 1) * e``; as a function of ``g`` the ratio is a ratio of linear
  functions, so it is smallest at ``g = 1`` or as ``g`` grows: ``(s_max + o) / k`` or
  ``s_max + e``; at a free query end the run costs no gap and is a left-out stretch;
- ``L`` letters left out at one end touch ``L`` windows (those starting among them), at a
  loss of ``s_max`` each (only possible with a free query end or in local mode).

Each defect's loss is at least ``rho`` times the windows it touches, so the loss is at least
``D * rho``, and, being an integer, at least ``ceil(D * rho)``.

*Ambiguous letters.* A column holding a non-``ACGT`` letter uses up one of the ``A`` such
letters, so at most ``A`` columns do, covering at most ``A * k`` windows at ``(s_max - s_amb)
/ k`` each. The cheapest covering of ``D`` windows then gives those ``min(D, A k)`` windows to
ambiguous columns (if they are the cheaper) and the rest to the ratios above, and the loss is
at least the smaller of that mixture and ``D * rho`` (a small linear program whose optimum
takes the cheapest ratios first; computed exactly in integers). Without the cap, one ``N`` in
a gene would let every mismatch cost as little as an ``N`` column (0 by default) and the bound
would prune nothing.

*Runs of ambiguous letters.* A reference with a run of ``N`` would get ``A * k`` cheap
windows above, though the run's columns sit side by side. Group the defects instead: for each
run of the reference's ambiguous letters holding ``j >= 1`` columns, at query positions ``p_1
< ... < p_j``, its group is those columns and the inserted letters and deletions between
``p_1`` and ``p_j``. The run's letters are adjacent in the reference, so every query letter
between ``p_1`` and ``p_j`` is one of its columns or inserted: ``u`` inserted letters, ``p_j -
p_1 + 1 = j + u``. Every window the group touches lies in ``[p_1 - k + 1, p_j]``, at most ``j
+ u + k - 1`` windows, and its loss is at least ``j * a + u * s_max`` (``a = s_max - s_amb``).
The columns with a query ambiguous letter and a plain reference letter stay single defects
(``k`` windows at ``a``). So with ``R`` units (the query's ambiguous letters plus the
reference's runs), the loss covers ``D`` windows at best with ``R * k`` windows at ``a / k``,
``A - R`` at ``a``, any number at ``s_max`` and the rest at ``rho``: a fractional covering
whose optimum, cheapest first, is a lower bound (:func:`_grouped_loss`); the bound uses the
larger of it and the loss above. Against one reference the cover also runs on its exact
k-mers only (no wildcards) with each run a defect covering any ``k`` windows at ``a`` and each
further window at ``min(a, s_max)``, at most ``R`` times (:func:`grouped_cover_loss`): a run
of ``k`` or more ``N`` would otherwise make every window present.

Independently the lengths force a loss ``L``: if ``m > n``, at least ``m - n`` query letters
are not in columns: ``(m - n) * s_max``, plus, when no query end is free, the cost of
inserting them, at least ``o + (m - n - 1) * e`` (one run is the cheapest since ``o >= e``).
If ``n > m`` and no reference end is free (and not local), at least ``n - m`` reference
letters are in deletions: ``o + (n - m - 1) * e``. Both bounds hold, so the loss is at least
their maximum. ∎

*Where the windows are missing.* Against one reference the search knows *which* windows are
missing, not only how many, and a tighter bound follows from the same defects: their loss is
at least the cheapest way to cover every missing window with the windows defects touch, an
interval covering problem solved exactly by dynamic programming over the windows
(:func:`cover_loss`, ``O(W)``): a mismatch covers any ``k`` consecutive windows (cut at the
ends) at ``s_max - s_plain``; a deletion any ``k - 1`` at ``o``; ``g`` inserted letters any
``g + k - 1`` at ``g * s_max + o + (g - 1) * e``; a left-out prefix or suffix of ``L`` windows
at ``L * s_max`` (when that query end is free). Missing windows scattered in runs shorter than
``k`` (a k-mer found elsewhere in the gene splits a run) need more defects than ``D / k``,
which the count alone cannot see. Here a reference letter other than ``A C G T`` counts as a
wildcard when telling whether a window is present (a column of a query base against it is
then no defect: dropping its loss only lowers the loss), so only the query's ``A_q`` ambiguous
letters make defects cheaper: replacing each by a plain mismatch raises the cover's cost by at
most ``max(0, s_amb - s_plain)``, so the loss is at least the cover's cost minus ``A_q`` times
that. The search takes the larger of this
loss and the count's.

*Ambiguous letters far from the read.* A gene with ``N`` scattered along its length would
give every read the allowance of all of them, though an alignment meets only those of one
stretch. Every column's reference letter lies between the first and the last column's, a
stretch of at most ``m + d`` letters where ``d`` counts the reference letters deleted between
them. So for a length ``S >= m`` (:data:`SPANS`): either ``d <= S - m``, and the columns
meet at most the ambiguous letters and runs of the gene's most ambiguous ``S``-letter
stretch (the bound above with those counts), or ``d > S - m`` and the deletions cost at least
``o + (S - m) * e`` (one run is the cheapest since ``o >= e``), so the score is at most
``m * s_max - o - (S - m) * e``. The larger of the two bounds every alignment; the search
takes the smallest over the spans, and the smaller of that and the whole gene's
(:func:`span_bound`).

For a *cluster* of references the search uses the count over the union of the members'
k-mers (``>=`` each member's count), the union of their letters (larger ``s_max``,
``s_plain``, ``s_amb``), the largest ``A`` and ``R`` (whole and per stretch) and the member
length nearest ``m``; ``U`` grows with ``C``, ``s_plain``, ``s_amb``, ``A``, ``R`` and
``s_max`` (its slope in ``s_max`` is at least ``m - max(D, m - n) > 0``) and with a smaller
``L``, so the cluster's bound is at least each
member's.

*Half an alignment.* The k-mer bounds cannot fall below ``m * s_max`` less the loss of one
mismatch per ``k`` windows (with the default scores, about 63% of a perfect score), so a read
close to no reference (its best score lower) would be aligned against every reference. When
the query is aligned in full and the reference's ends are free (semiglobal), split the query
into a *head* ``H`` (its first ``h`` letters) and a *tail* ``T`` (the rest). Cut an alignment
between the columns of ``H`` and those of ``T``: the deletion run between the two parts, if
any, is dropped (its cost is ``>= 0``), and an insertion run holding letters of both is
charged its opening cost in the tail part. The tail part is then an alignment of ``T`` with
the reference's ends free, so it scores at most ``opt(T)``, the optimal score of ``T`` against
the reference. The head part is an alignment of ``H`` whose last letters may be inserted at
``e`` each without an opening cost; each such letter still loses ``s_max + e >= s_max`` and
touches only the windows ending in the inserted letters, as letters left out at a free end do,
so the cover bound above with ``H``'s end free bounds it. The score is therefore at most
``opt(T) + U_H``. The search computes ``opt(T)`` with the score-only kernel, at about half the
cost of the full alignment, and aligns in full only the pairs whose ``opt(T) + U_H`` still
reaches the best (:meth:`~streamalign.search.searcher.DatabaseSearch.half_bounds`; on the
real reads that no k-mer bound prunes, fewer than one pair in twenty).

*A relative's alignment.* Let ``C`` be a reference and ``M`` another, with an edit script
between them (:mod:`streamalign.search.families`): ``M``'s letters are paired with ``C``'s
(equal or substituted), or are *member-only*, and ``C``'s unpaired letters lie between two of
``M``'s. Take any alignment ``A`` of a query ``Q`` against ``M`` with ``M``'s ends free (the
query in full, or in local mode part of it), using ``M``'s letters ``[a, b)``, and build one
against ``C``: each column holding a paired letter of ``M`` holds its partner instead, which
changes its score by at most ``d(x, y) = max_q (S[q, x] - S[q, y])`` (``x`` ``M``'s letter,
``y`` ``C``'s); member-only letters that ``A`` aligns become insertions and those it deletes
vanish (the insertions of a run of ``n`` are contiguous, a run costing at most
``g*(n) = max(o + (n - 1) * e, n * e)`` as one whether it opens or extends one; vanishing and
merged runs only save); ``C``'s unpaired letters strictly inside ``[a, b)`` become deletions,
a run of ``n`` placed beside the deletions of its gap block if any (``<= g*(n)``, never
splitting an insertion run), those outside are left out at the free ends. The query's letters
are unchanged, so the result is an alignment of the same kind against ``C``, and

    score(A) <= opt(Q, C) + sum of the costs of the events in [a, b),

substitution ``d``, a member-only run of ``n`` ``n * max(s_max, 0) + g*(n)``, a
``C``-only run ``g*(n)``; a member-only run counts if it overlaps ``[a, b)``. The stretch
``b - a`` is the query letters aligned plus the deletions, and a deletion run of ``D`` letters
costs at least ``o + (D - 1) * e``: if ``opt(Q, M) >= theta`` (a score to beat), its optimal
alignment (no deletions at its ends) has ``o + (D - 1) * e <= |Q| * s_max - theta``, so the
events in any ``|Q| + D_max`` consecutive letters of ``M`` bound the difference. Hence
``opt(Q, M) >= theta`` implies ``opt(Q, M) <= opt(Q, C) + T(M, |Q| + D_max(theta))``; a bound
below ``theta`` proves ``opt(Q, M) < theta``. The search uses it on whole reads
(:meth:`~streamalign.search.searcher.DatabaseSearch.relatives_settle`): one alignment of a
family's representative bounds every member. (It holds for a read's tail as well, ``theta``
the best less a perfect head; bounding members' tails that way, with their heads' k-mer
bounds, saved 17% of the tail alignments of reads close to no gene at 399,400 genes but cost
more than it saved, so the search does not.)

*A relative's alignment, by where it ends.* With the query aligned in full and the
reference's end free, the last row of the DP of ``Q`` against ``C`` gives ``L_C(e)``: the
best score of an alignment ending after ``C``'s letter ``e - 1`` (``e = 0``: none). In the
construction above, ``A'`` ends where ``A``'s last paired letter ``p`` has its partner
``c(p)``, so ``score(A) <= L_C(c(p) + 1) +`` the events in ``[a, b)``. With ``s`` the most
``|c(q) - q|`` over ``M``'s letters (:func:`~streamalign.search.families.event_shifts`) and
``l`` its longest member-only run (the letters after ``p`` in ``[a, b)`` are member-only,
one run), ``A'`` ends at ``e`` with ``b - s <= e <= b + s`` within ``l``; and the events that
count lie in ``(a - l, b)``, ``b - a <= W``. So for ``e`` in a block ``[j, j + K)`` of
columns, they lie in ``[j - W - s - l, j + K + s + l)``, and

    opt(Q, M) <= max over blocks (max of L_C over the block + the events in that range)

whenever ``opt(Q, M) >= theta`` (``W`` from ``theta`` as above). A read close to no gene
aligns well to a consensus only where its region lies, so only the member's events there
count, not those of its costliest stretch anywhere. The kernel with a reference per lane
keeps ``L_C``'s block maxima as it fills
(:func:`~streamalign.kernels.multireference.score_pairs` with ``block``), at no measurable
cost; for three far reads against 399,400 genes this leaves 32,000 of the 101,000 members the
window bound leaves unsettled (blocks of 32; ``benchmarks/family_bound_study.py``). The same
blocks say where such an alignment can lie: only the blocks whose bound reaches ``theta``
hold its end, so it uses member letters from ``j - W - s - l`` of the first block to
``j + K + s + l`` of the last, and the search aligns a member against that stretch only (its
ends are free: the exact score wherever it reaches ``theta``, less elsewhere;
:meth:`~streamalign.search.searcher.DatabaseSearch.regions`). One level up, a family's
consensus is a member of its upper family: where the upper consensus's end blocks do not
settle it, they give the stretch of the consensus that holds every alignment scoring its
``theta`` (the read's best less the family's costliest member stretch), and the consensus
is aligned against that stretch only. A member that reaches the best has a consensus
alignment scoring ``theta`` or more (the transfer above), which lies in the stretch: the
maximum of the block where it ends, which the member's position-aware bound takes, and
the consensus's score are then exact (``DatabaseSearch._consensus_alignments``).

Tested with hypothesis in ``tests/test_search_bounds.py``: ``U >= `` the exact score on random,
mutated and adversarial pairs, in every mode, for random scorings.

Example:
    >>> from streamalign.scoring import Scoring
    >>> model = BoundModel.create(Scoring(), k=8, mode_flags=(False, False, True, True))
    >>> [int(value) for value in model.pair_scores(0b1111, 0b11111)]  # ACGT, ACGTN
    [1, -2, 0]
    >>> # 250-bp read, 1,465-bp gene, 7 well-spaced mismatches: 7 * 8 windows lost.
    >>> model.bound(250, 1465, shared=243 - 56, mask_query=0b1111, mask_reference=0b1111)
    229
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from ..scoring import Scoring

#: What :func:`score_bound` returns when no bound can be claimed (it exceeds every score).
NO_BOUND = 2**62
#: Scores and costs above this (scaled) are capped in the loss (never seen in practice).
_LARGEST = 2**32


@dataclasses.dataclass(frozen=True)
class BoundModel:
    """What the bound needs from a scoring and a mode (see the module for the proof).

    Attributes:
        k: k-mer length of the counts.
        matrix: the scaled integer substitution scores (15 x 15 used).
        gap_open, gap_extend: scaled integer gap costs.
        query_end_free: some query letters may be left out at no gap cost (a free query end,
            or local mode).
        reference_ends_penalized: every reference letter must be aligned or deleted at a cost
            (neither reference end free, not local).
        query_prefix_free, query_suffix_free: the query's start (end) may be left out free.
    """

    k: int
    matrix: np.ndarray
    gap_open: int
    gap_extend: int
    query_end_free: bool
    reference_ends_penalized: bool
    query_prefix_free: bool = False
    query_suffix_free: bool = False

    @classmethod
    def create(
        cls,
        scoring: Scoring,
        k: int,
        mode_flags: tuple[bool, bool, bool, bool],
        local: bool = False,
    ) -> BoundModel:
        """The model of ``scoring`` with end switches ``(query_start_free, query_end_free,
        reference_start_free, reference_end_free)``."""
        query_start, query_end, reference_start, reference_end = mode_flags
        return cls(
            k=k,
            matrix=scoring.integer_matrix[:15, :15].astype(np.int64),
            gap_open=int(scoring.integer_gap_open),
            gap_extend=int(scoring.integer_gap_extend),
            query_end_free=bool(local or query_start or query_end),
            reference_ends_penalized=not (local or reference_start or reference_end),
            query_prefix_free=bool(local or query_start),
            query_suffix_free=bool(local or query_end),
        )

    def pair_scores(self, mask_query: int, mask_reference: int) -> tuple[int, int, int]:
        """``(s_max, s_plain, s_amb)`` over the letter sets given as bit masks of codes."""
        return _pair_scores(self.matrix, mask_query, mask_reference)

    def bound(
        self,
        query_length: int,
        reference_length: int,
        shared: int,
        mask_query: int,
        mask_reference: int,
        ambiguous_letters: int = 0,
        ambiguous_units: int | None = None,
    ) -> int:
        """The bound ``U`` for ``shared`` = ``C`` windows found in the reference, the letters
        present given as bit masks of codes, ``ambiguous_letters`` non-``ACGT`` letters in
        the two sequences together, in ``ambiguous_units`` units (the query's such letters
        plus the reference's runs of them; default: every letter its own unit)."""
        s_max, s_plain, s_ambiguous = self.pair_scores(mask_query, mask_reference)
        return int(
            score_bound(
                query_length,
                reference_length,
                reference_length,
                shared,
                self.k,
                s_max,
                s_plain,
                s_ambiguous,
                ambiguous_letters,
                ambiguous_letters if ambiguous_units is None else ambiguous_units,
                self.gap_open,
                self.gap_extend,
                self.query_end_free,
                self.reference_ends_penalized,
            )
        )


@njit(nogil=True, cache=True)
def _pair_scores(matrix, mask_query, mask_reference):
    """Over pairs of present letters: the best score (``s_max``), the best of two different
    ``A C G T`` letters (``s_plain``) and the best of a pair with another letter (``s_amb``);
    -2**62 where there is no such pair."""
    best = -(2**62)
    plain = -(2**62)
    ambiguous = -(2**62)
    for first in range(15):
        if not (mask_query >> first) & 1:
            continue
        for second in range(15):
            if not (mask_reference >> second) & 1:
                continue
            value = matrix[first, second]
            best = max(best, value)
            if first >= 4 or second >= 4:
                ambiguous = max(ambiguous, value)
            elif first != second:
                plain = max(plain, value)
    return best, plain, ambiguous


@njit(nogil=True, cache=True)
def _ceil_ratio(numerator, denominator):
    """``ceil(numerator / denominator)`` for ``denominator > 0``."""
    return -((-numerator) // denominator)


@njit(nogil=True, cache=True)
def _gap_run(length, gap_open, gap_extend):
    return gap_open + (length - 1) * gap_extend


@njit(nogil=True, cache=True)
def length_loss(
    query_length, reference_length, s_max, gap_open, gap_extend, query_end_free, reference_fixed
):
    """The loss ``L`` the two lengths force (see the module)."""
    if query_length > reference_length:
        excess = query_length - reference_length
        loss = excess * s_max
        if not query_end_free:
            loss += _gap_run(excess, gap_open, gap_extend)
        return loss
    if reference_length > query_length and reference_fixed:
        return _gap_run(reference_length - query_length, gap_open, gap_extend)
    return 0


@njit(nogil=True, cache=True)
def _covering_loss(missing, covered, ambiguous_loss, k, numerator, denominator):
    """``ceil`` of the loss when ``covered`` windows go to ambiguous columns (``ambiguous_loss``
    per k windows) and the rest at ``numerator / denominator`` per window."""
    rest = missing - covered
    return _ceil_ratio(
        covered * ambiguous_loss * denominator + rest * numerator * k, k * denominator
    )


@njit(nogil=True, cache=True)
def _grouped_loss(missing, units, letters, ambiguous_loss, s_max, k, numerator, denominator):
    """``ceil`` of the least loss covering ``missing`` windows with: ``units * k`` windows at
    ``ambiguous_loss / k`` each (a unit's first column), ``letters - units`` at
    ``ambiguous_loss`` (its further columns), any number at ``s_max`` (letters inserted
    within a run's columns) and any number at ``numerator / denominator`` (the other
    defects); cheapest first (a fractional covering: its optimum is a lower bound)."""
    scale = k * denominator
    # Prices per window times scale. A unit's first column (at most units * k windows) is
    # never dearer than its further ones; the two unlimited kinds count as the cheaper one.
    first_price = ambiguous_loss * denominator
    further_price = ambiguous_loss * scale
    unlimited_price = min(s_max * scale, numerator * k)
    left = missing
    total = 0
    if first_price < unlimited_price:
        taken = min(left, units * k)
        total += taken * first_price
        left -= taken
        if further_price < unlimited_price:
            taken = min(left, letters - units)
            total += taken * further_price
            left -= taken
    total += left * unlimited_price
    return _ceil_ratio(total, scale)


@njit(nogil=True, cache=True)
def cover_loss(absent, k, mismatch_loss, gap_open, gap_extend, s_max, start_free, end_free):
    """The least loss of defects touching every window where ``absent`` is set (see the
    module); :func:`grouped_cover_loss` without runs.

    Example:
        >>> import numpy as np
        >>> absent = np.zeros(20, np.bool_); absent[5:9] = True; absent[14] = True
        >>> int(cover_loss(absent, 4, 3, 5, 2, 1, False, False))  # two mismatches
        6
    """
    return grouped_cover_loss(
        absent, k, mismatch_loss, gap_open, gap_extend, s_max, start_free, end_free, 0, 0
    )


@njit(nogil=True, cache=True)
def grouped_cover_loss(
    absent, k, mismatch_loss, gap_open, gap_extend, s_max, start_free, end_free, runs, run_loss
):
    """:func:`cover_loss` where ``absent`` marks every window whose exact k-mer (all ``A C G T``)
    the reference lacks, with one more kind of defect, used at most ``runs`` times: a run of
    the reference's ambiguous letters, covering any ``k`` consecutive windows at ``run_loss``
    and each further window at ``min(run_loss, s_max)`` (see the module).

    Example:
        >>> import numpy as np
        >>> absent = np.ones(30, np.bool_)  # 30 windows missing; k = 4, mismatch loss 3
        >>> int(cover_loss(absent, 4, 3, 5, 2, 1, False, False))  # eight mismatches
        24
        >>> # A run's column (1) and two further ones (1 each), then six mismatches:
        >>> int(grouped_cover_loss(absent, 4, 3, 5, 2, 1, False, False, 1, 1))
        21
    """
    covered = np.empty((runs + 1, len(absent) + 1), np.int64)
    states = np.empty((2, runs + 1), np.int64)
    return _grouped_cover(
        absent,
        k,
        mismatch_loss,
        gap_open,
        gap_extend,
        s_max,
        start_free,
        end_free,
        runs,
        run_loss,
        covered,
        states,
    )


@njit(nogil=True, cache=True)
def _grouped_cover(
    absent,
    k,
    mismatch_loss,
    gap_open,
    gap_extend,
    s_max,
    start_free,
    end_free,
    runs,
    run_loss,
    covered,
    states,
):
    """:func:`grouped_cover_loss` in caller-given tables (``covered`` at least ``runs + 1`` by
    ``len(absent) + 1``, ``states`` at least 2 by ``runs + 1``): no allocation per call.

    ``covered[t, j]`` covers the missing windows before ``j`` with at most ``t`` runs;
    ``inserting[t]`` the same with an insertion's interval still open at window ``j - 1``,
    ``grouping[t]`` with a run's. With no cost below 0, the windows before the first absent
    one are skipped: nothing to cover there (every entry 0), and an insertion or run still
    open there costs at least one opened at that window."""
    count = len(absent)
    infinity = NO_BOUND
    mismatch_loss = min(mismatch_loss, _LARGEST)
    gap_open = min(gap_open, _LARGEST)
    gap_extend = min(gap_extend, _LARGEST)
    run_loss = min(run_loss, _LARGEST)
    further = min(run_loss, s_max)
    covered[: runs + 1, 0] = 0
    inserting = states[0]
    grouping = states[1]
    inserting[: runs + 1] = infinity
    grouping[: runs + 1] = infinity
    begin = 0
    if min(mismatch_loss, gap_open, gap_extend, s_max) >= 0 and (runs == 0 or run_loss >= 0):
        while begin < count and not absent[begin]:
            begin += 1
        if begin == count:
            return 0
        covered[: runs + 1, : begin + 1] = 0
    for window in range(begin, count):
        first = max(window - k + 1, 0)
        for used in range(runs + 1):
            value = covered[used, window] if not absent[window] else infinity
            value = min(value, covered[used, first] + mismatch_loss)
            value = min(value, covered[used, max(window - k + 2, 0)] + gap_open)
            inserting[used] = min(
                inserting[used] + s_max + gap_extend, covered[used, first] + s_max + gap_open
            )
            value = min(value, inserting[used])
            if used > 0:
                grouping[used] = min(grouping[used] + further, covered[used - 1, first] + run_loss)
                value = min(value, grouping[used])
            if start_free:
                value = min(value, (window + 1) * s_max)
            covered[used, window + 1] = value
    result = covered[runs, count]
    if end_free:
        for start in range(count):
            result = min(result, covered[runs, start] + (count - start) * s_max)
    return result


#: Lengths of reference stretches whose most ambiguous letters and runs the search keeps per
#: reference (see the module: an alignment's ambiguous columns lie in one such stretch
#: unless it deletes many reference letters).
SPANS = np.array([256, 512, 1024, 2048], np.int64)


@njit(nogil=True, cache=True)
def span_bound(
    query_length,
    shortest_reference,
    longest_reference,
    shared,
    k,
    s_max,
    s_plain,
    s_ambiguous,
    query_ambiguous,
    span_letters,
    span_runs,
    gap_open,
    gap_extend,
    query_end_free,
    reference_fixed,
):
    """The bound using only the ambiguous letters (``span_letters[j]``) and runs
    (``span_runs[j]``) of the reference's most ambiguous stretch of ``SPANS[j]`` letters: for
    each stretch at least as long as the query, the larger of that bound and the best score of
    an alignment deleting more than ``SPANS[j] - query_length`` reference letters between its
    columns; the smallest over ``j`` (see the module), stopping at the first stretch whose
    deletion bound is below its count's. :data:`NO_BOUND` if no stretch fits."""
    result = NO_BOUND
    for span in range(len(SPANS)):
        extra = SPANS[span] - query_length
        if extra < 0:
            continue
        floor = query_length * s_max - _gap_run(extra + 1, gap_open, gap_extend)
        if floor >= result:
            continue  # this span's bound is at least its floor
        value = score_bound(
            query_length,
            shortest_reference,
            longest_reference,
            shared,
            k,
            s_max,
            s_plain,
            s_ambiguous,
            query_ambiguous + span_letters[span],
            query_ambiguous + span_runs[span],
            gap_open,
            gap_extend,
            query_end_free,
            reference_fixed,
        )
        if value >= NO_BOUND:
            return NO_BOUND
        result = min(result, max(value, floor))
        if floor <= value:
            # Longer stretches hold at least as many ambiguous letters and runs, so their
            # counts' bounds are at least this one: none does better.
            break
    return result


@njit(nogil=True, cache=True)
def gene_bound(
    query_length,
    shortest_reference,
    longest_reference,
    shared,
    k,
    s_max,
    s_plain,
    s_ambiguous,
    query_ambiguous,
    letters,
    runs,
    span_letters,
    span_runs,
    gap_open,
    gap_extend,
    query_end_free,
    reference_fixed,
):
    """:func:`score_bound` of references (a cluster's, or one) holding at most ``letters``
    ambiguous letters in ``runs`` runs, and for those holding any the smaller of that and
    :func:`span_bound` with their stretches' counts."""
    value = score_bound(
        query_length,
        shortest_reference,
        longest_reference,
        shared,
        k,
        s_max,
        s_plain,
        s_ambiguous,
        query_ambiguous + letters,
        query_ambiguous + runs,
        gap_open,
        gap_extend,
        query_end_free,
        reference_fixed,
    )
    if letters > 0:
        value = min(
            value,
            span_bound(
                query_length,
                shortest_reference,
                longest_reference,
                shared,
                k,
                s_max,
                s_plain,
                s_ambiguous,
                query_ambiguous,
                span_letters,
                span_runs,
                gap_open,
                gap_extend,
                query_end_free,
                reference_fixed,
            ),
        )
    return value


@njit(nogil=True, cache=True)
def span_counts(codes, offsets, selected):
    """For each sequence ``selected``: its letters other than ``A C G T``, its runs of them,
    and for each of :data:`SPANS` at most how many such letters and runs any stretch of that
    length holds (``(count, len(SPANS))`` arrays: a stretch starting inside run ``i`` meets
    only runs ``i``, ``i + 1``, ... starting before the run's end plus the span; their whole
    lengths are counted)."""
    spans = len(SPANS)
    letters = np.zeros(len(selected), np.int64)
    runs = np.zeros(len(selected), np.int64)
    span_letters = np.zeros((len(selected), spans), np.int64)
    span_runs = np.zeros((len(selected), spans), np.int64)
    for number in range(len(selected)):
        sequence = selected[number]
        start, end = offsets[sequence], offsets[sequence + 1]
        run_starts = np.empty(end - start, np.int64)
        run_ends = np.empty(end - start, np.int64)
        count = 0
        previous = False
        for position in range(start, end):
            ambiguous = codes[position] >= 4
            if ambiguous and not previous:
                run_starts[count] = position
                count += 1
            if ambiguous:
                run_ends[count - 1] = position + 1
            previous = ambiguous
        runs[number] = count
        total = 0
        for run in range(count):
            total += run_ends[run] - run_starts[run]
        letters[number] = total
        for span in range(spans):
            length = SPANS[span]
            last = 0  # runs first..last-1 start before run first's end - 1 + length
            held = 0
            best_letters = 0
            best_runs = 0
            for first in range(count):
                if last < first + 1:
                    last = first
                    held = 0
                limit = run_ends[first] - 1 + length
                while last < count and run_starts[last] < limit:
                    held += run_ends[last] - run_starts[last]
                    last += 1
                best_letters = max(best_letters, held)
                best_runs = max(best_runs, last - first)
                held -= run_ends[first] - run_starts[first]
            span_letters[number, span] = best_letters
            span_runs[number, span] = best_runs
    return letters, runs, span_letters, span_runs


@njit(nogil=True, cache=True)
def score_bound(
    query_length,
    shortest_reference,
    longest_reference,
    shared,
    k,
    s_max,
    s_plain,
    s_ambiguous,
    ambiguous_letters,
    ambiguous_units,
    gap_open,
    gap_extend,
    query_end_free,
    reference_fixed,
):
    """``U`` for references of lengths in ``[shortest_reference, longest_reference]`` (one
    reference: both its length) sharing at most ``shared`` windows, with at most
    ``ambiguous_letters`` letters other than ``A C G T`` in the query and reference together,
    in at most ``ambiguous_units`` units (the query's such letters plus the reference's runs
    of them; pass ``ambiguous_letters`` when runs are not known); see the module."""
    if s_max <= 0 or s_max > _LARGEST:
        return NO_BOUND
    # Smaller numerators only lower the loss (a weaker, still valid bound) and keep every
    # product below 2**63.
    plain = min(s_max - s_plain, _LARGEST)
    ambiguous = min(max(s_max - s_ambiguous, 0), _LARGEST)
    gap_open = min(gap_open, _LARGEST)
    gap_extend = min(gap_extend, _LARGEST)
    windows = query_length - k + 1
    missing = windows - shared if windows > shared else 0
    kmer_loss = 0
    if missing > 0:
        covered = min(missing, ambiguous_letters * k)
        # Runs of ambiguous reference letters: a run's first column covers k windows, every
        # further one (or inserted letter within it) one more (see the module).
        grouping = 0 < ambiguous_units < ambiguous_letters
        kmer_loss = NO_BOUND
        grouped = NO_BOUND
        # The defect ratios (numerator, denominator) of the module, cheapest taken below.
        for kind in range(5):
            if kind == 0:
                numerator, denominator = plain, k
            elif kind == 1:
                numerator, denominator = gap_open, k - 1
            elif kind == 2:
                numerator, denominator = s_max + gap_open, k
            elif kind == 3:
                numerator, denominator = s_max + gap_extend, 1
            else:
                if not query_end_free:
                    continue
                numerator, denominator = s_max, 1
            value = _ceil_ratio(missing * numerator, denominator)
            if covered > 0:
                value = min(
                    value, _covering_loss(missing, covered, ambiguous, k, numerator, denominator)
                )
            kmer_loss = min(kmer_loss, value)
            if grouping:
                grouped = min(
                    grouped,
                    _grouped_loss(
                        missing,
                        ambiguous_units,
                        ambiguous_letters,
                        ambiguous,
                        s_max,
                        k,
                        numerator,
                        denominator,
                    ),
                )
        if grouping:
            kmer_loss = max(kmer_loss, grouped)
    if shortest_reference <= query_length <= longest_reference:
        loss_of_lengths = 0
    else:
        nearest = longest_reference if query_length > longest_reference else shortest_reference
        loss_of_lengths = length_loss(
            query_length, nearest, s_max, gap_open, gap_extend, query_end_free, reference_fixed
        )
    return query_length * s_max - max(kmer_loss, loss_of_lengths)
