"""Benchmarks of lazymagic against the physical limit and its peers.

Run them all with ``make bench`` or ``python -m benchmarks.run``.
"""
