"""Benchmarks and profiles: they build runs through engine/build.py, as gan-run does, and time the step the loop
calls. scripts/ holds their command-line drivers; docs/results/speed.md and docs/gpu.md their figures."""
