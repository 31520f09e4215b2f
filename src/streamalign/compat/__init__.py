"""Drop-in replacements for other aligners' APIs, with the same answers.

- :mod:`streamalign.compat.skbio`: scikit-bio's ``global_pairwise_align_nucleotide``,
  ``global_pairwise_align``, ``local_pairwise_align_nucleotide`` and ``local_pairwise_align``
  (and batched ``*_many`` helpers), reproducing its recurrence bit for bit.

scikit-bio stays optional: without it the functions return plain named tuples.

Example:
    >>> from streamalign.compat.skbio import global_pairwise_align_nucleotide
    >>> global_pairwise_align_nucleotide("ACGT", "AGT", as_strings=True)  # free end gaps
    PairwiseAlignment(msa=('---ACGT', 'AGT----'), score=0.0, start_end_positions=[(0, 3), (0, 2)])
"""
