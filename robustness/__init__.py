"""Robustness evaluation: the DeeperForensics-1.0 perturbations and scoring under them."""
