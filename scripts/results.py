"""Every paper preset of conf/experiment/ trained over 3 seeds, and the page docs/results/presets.md.

A thin driver: the code is gan_runner.study.preset_results; `python scripts/results.py --help` says how to run it."""

from gan_runner.study.preset_results import main

if __name__ == "__main__":
    main()
