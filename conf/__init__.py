"""gan-runner's configs (conf/ in the repository, shipped as gan_runner.conf). Importing the package, as Hydra
does when it reads pkg://gan_runner.conf, registers the typed schema of `train` (gan_runner/schema.py)."""

from gan_runner.schema import register

register()
