"""The program every workload lowers to and the engine runs: op graphs, and (next) their mapping."""
