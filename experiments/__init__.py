"""Flag-driven experiments: one per claim group, each `python -m experiments.NAME --workdir DIR`."""
