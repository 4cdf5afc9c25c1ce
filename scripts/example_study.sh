#!/usr/bin/env bash
# The README's example study: three objectives x three seeds on the 8-Gaussian ring, two jobs side by side
# (the parallel launcher), 2,000 steps each with the mode metrics every 250 steps, then gan-report's comparison
# into docs/studies/ring8_objectives/ (the README's example study is stacked digits': scripts/stacked_digits.py).
#   bash scripts/example_study.sh [SWEEP_DIR]      (default outputs/example_study; about 5 minutes on 2 cores)
# A second invocation reuses a finished sweep (its summary.txt) and only rewrites the report.
set -euo pipefail
sweep=${1:-outputs/example_study}
if [ ! -f "$sweep/summary.txt" ]; then
    gan-run -m hydra/launcher=parallel hydra.launcher.n_jobs=2 dataset=ring8 \
        objective=nonsaturating,hinge,lsgan seed=0,1,2 train.steps=2000 metrics.every=250 logger=none \
        hydra.sweep.dir="$sweep"
fi
report=docs/studies/ring8_objectives
rm -rf "$report"
gan-report "$sweep" metric=toy/modes,toy/high_quality,toy/reverse_kl out="$report"
