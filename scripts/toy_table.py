"""Mode coverage on the 2-D mixtures for every objective x regulariser, and its docs section.

A thin driver: the code is gan_runner.study.toy_table; `python scripts/toy_table.py --help` says how to run it."""

from gan_runner.study.toy_table import main

if __name__ == "__main__":
    main()
