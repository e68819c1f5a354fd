"""Training of the face classifiers."""
