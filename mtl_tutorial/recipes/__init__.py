"""Experiment definitions, one module per chapter; importing a module registers its experiments."""
