"""Engine: the simpy discrete-event run of an op graph over a chip's cores and memory bandwidth."""
