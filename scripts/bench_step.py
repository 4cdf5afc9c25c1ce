"""Iterations per second of gan-runner's training step against pytorch/examples' DCGAN loop.

A thin driver: the code is gan_runner.bench.step; `python scripts/bench_step.py --help` says how to run it."""

from gan_runner.bench.step import main

if __name__ == "__main__":
    main()
