"""Turning DFDC-layout datasets into face crops, landmarks, difference masks and folds for training."""
