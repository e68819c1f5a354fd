"""Training of the face classifiers."""
import os

# albumentations asks pypi.org for a newer version at import unless told not to: nothing here may reach the network
# at run time, and on a machine without it the request only costs start-up time.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
