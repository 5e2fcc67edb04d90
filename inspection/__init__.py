"""Looking inside a model: frozen features, linear and k-NN probes, reconstruction figures. Built on engine/ (its
loaders, evaluation and collectives); nothing in engine/ imports it."""
