"""Benchmarks: each script measures one thing, prints a table and rewrites its own section of
docs/benchmarks.md with --write."""
