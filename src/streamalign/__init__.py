"""streamalign: exact alignment of DNA sequence streams."""
