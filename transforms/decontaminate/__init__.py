"""Benchmark decontamination: n-gram overlap and exact normalised substrings against the
benchmark test sets bundled with codekiln (see `benchmarks.BENCHMARKS`)."""
