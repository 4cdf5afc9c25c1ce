"""pyproject.toml holds the project; this file says only which packages ship, which a TOML table cannot: every package
found under gan_runner/ (none listed by hand, so that a new one cannot be left out of the wheel) and conf/, shipped as
gan_runner.conf (pyproject.toml's package-dir), which lies outside gan_runner/ where no search finds it."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["gan_runner", "gan_runner.*"]), "gan_runner.conf"])
