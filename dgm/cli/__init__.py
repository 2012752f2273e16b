"""The `dgm` command line: train, sample, evaluate, list. Each handler imports what it needs."""
