"""Keep the libraries from reaching the network at run time: the entry points call this before importing them.

albumentations asks pypi.org for a newer version when it is imported unless told not to, and huggingface_hub
reads HF_HUB_OFFLINE once, when it is imported. Nothing of this project reaches out while it runs unless the
user asks (train_classifier.py --download-pretrained).
"""

from __future__ import annotations

import os


def stay_offline(allow_hub: bool = False) -> None:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if not allow_hub:
        os.environ["HF_HUB_OFFLINE"] = "1"
