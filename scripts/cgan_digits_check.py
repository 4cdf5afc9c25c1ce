"""Does a class-conditional digits run draw the class it is asked for?

A thin driver: the code is gan_runner.study.cgan_digits_check; `python scripts/cgan_digits_check.py --help` says how to run it."""

import sys

from gan_runner.study.cgan_digits_check import main

if __name__ == "__main__":
    sys.exit(main())
