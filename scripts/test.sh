#!/usr/bin/env bash
# Install the test dependencies into .venv/ and run the whole suite: lint, then pytest.
# The suite runs on SENTIRIC_TEST_WORKERS pytest-xdist workers (default 3): most of its time is real-time
# calls waiting on the wire, not CPU. Tests that need the daemon's fixed ports (tests/pbx, `fixed_ports`)
# share one worker (--dist loadgroup; tests/conftest.py). SENTIRIC_TEST_WORKERS=0 runs it in one process.
# A failed test runs once more (--reruns 1) and the summary names it ("R"): a real-time test on two shared
# cores can lose a race with the host now and then; a broken behaviour fails both times.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
.venv/bin/ruff check sentiric_pbx tests bench
args=(--reruns 1 -raR)
workers="${SENTIRIC_TEST_WORKERS:-3}"
if [ "$workers" != 0 ]; then
    args+=(-n "$workers" --dist loadgroup)
fi
exec .venv/bin/python -m pytest "${args[@]}" "$@"
