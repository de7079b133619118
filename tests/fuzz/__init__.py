"""Fuzzing pulsar with mutated models: seeds, mutations, an isolated runner and a campaign."""
