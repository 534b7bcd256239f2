# Bundled example workloads and model configs; shipped as the package data `simulator.bundled_workloads`
# (see pyproject.toml).
