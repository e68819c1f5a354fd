"""Building blocks shared by inference, preprocessing and training."""
