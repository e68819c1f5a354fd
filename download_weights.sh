#!/usr/bin/env bash
# Download the seven released EfficientNet-B7 checkpoints (release tag 0.0.1) into weights/.
# Files already present with the published size and SHA-256 are kept, others fetched again; partial downloads resume. Extra arguments go to the downloader.
set -euo pipefail
cd "$(dirname "$0")"
source setup_env.sh
python -m inference.released_weights "$@"
