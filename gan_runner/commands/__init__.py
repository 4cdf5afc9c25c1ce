"""The commands: gan-run (the Hydra app), gan-sample, gan-eval, gan-report, gan-dashboard."""
