#!/usr/bin/env bash
# Install the test dependencies into .venv/ and run the whole suite: lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
.venv/bin/ruff check sentiric_pbx tests bench
.venv/bin/python -m pytest "$@"
