"""Exact database search: the best reference of each read among many, without aligning each
read against every reference (k-mer index, score bounds, pruned candidate order).

Example:
    >>> from streamalign.search.index import build_index
    >>> build_index(["ACGTACGTAC", "TTTTGGGGCC"], k=4).reference_count
    2
"""
