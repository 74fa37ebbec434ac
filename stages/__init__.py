"""spamneuron: a DVC pipeline that trains one neuron per text featurizer to detect SMS spam."""
