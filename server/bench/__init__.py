"""``python -m server bench NAME``: benchmarks that print figures as ratios against a reference run in the
same process (so machines compare), and the original runtimes the ports are measured against
(:mod:`.references`, installed into throwaway folders). Tests check correctness, not these timings."""
