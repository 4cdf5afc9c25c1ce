"""Objectives x regularisers on stacked digits over 3 held-out seeds, and the page docs/results/stacked_digits.md.

A thin driver: the code is gan_runner.study.stacked_digits; `python scripts/stacked_digits.py --help` says how."""

from gan_runner.study.stacked_digits import main

if __name__ == "__main__":
    main()
