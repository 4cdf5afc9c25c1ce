"""The f-GAN objectives as divergence estimators (Nowozin et al. 2016, section 4).

A thin driver: the code is gan_runner.study.fgan_divergences; `python scripts/fgan_divergences.py --help` says how to run it."""

from gan_runner.study.fgan_divergences import main

if __name__ == "__main__":
    main()
