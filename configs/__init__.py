# Bundled hardware presets; shipped as the package data `simulator.presets` (see pyproject.toml).
