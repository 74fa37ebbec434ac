"""Code shared by the stages: atomic I/O, the params schema, featurizers and the neuron."""
