"""The embedded default corpus: pages we wrote, packed into a WARC by build_warc.py."""
