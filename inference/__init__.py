"""Scoring videos as real or fake with an ensemble of face classifiers."""
