"""Keep the libraries from reaching the network at run time: the entry points call this before importing them.

albumentations asks pypi.org for a newer version when it is imported unless told not to; on a machine without the
network the request only costs start-up time, and nothing of this project may reach out while it runs.
"""
from __future__ import annotations

import os


def stay_offline() -> None:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
