"""`scripts/install.sh --system`: the PBX-host layout the systemd unit expects, planned, made, and made again.

The real install runs under a root prefix (`SENTIRIC_ROOT`), from a copy of the files the script
installs, so nothing on this host changes and no user is ever created (the script never creates one
under a prefix). pip runs for real (it needs PyPI): our package is built and installed into the prefix's
venv, from a copy whose lock files are cut down to one small package with its real pins and hashes (the
whole lock would take minutes and is what the developer install already tests); a hash that does not
match stops the install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
SCRIPT = REPO / "scripts" / "install.sh"
UNIT = REPO / "systemd" / "sentiric-pbx.service"
SHIPPED = [
    "scripts",
    "sentiric_pbx",
    "systemd",
    "asterisk",
    "requirements",
    "pyproject.toml",
    "README.md",
    "sentiric-pbx.example.toml",
]
SMALL = "typing-extensions"  # pure Python, one small wheel: the locked package the system-install tests install


def source_copy(dest: Path) -> Path:
    """The files a release ships, copied so other engineers' edits cannot change the tree between two runs."""
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def small_locks(src: Path, tamper: bool = False) -> str:
    """Cut the copy's locks down to SMALL, as pinned and hashed in the real install.lock → its version.

    `tamper` changes one digit of each of its hashes: what a substituted file on an index or mirror looks like.
    """
    lock = (REPO / "requirements" / "install.lock").read_text()
    block = re.search(rf"^{SMALL}==(\S+) \\\n(?:    --hash=sha256:[0-9a-f]{{64}}(?: \\)?\n)+", lock, re.M)
    assert block is not None, f"{SMALL} is no longer in requirements/install.lock: pick another small package"
    text = block[0]
    if tamper:
        text = re.sub(r"sha256:([0-9a-f])", lambda m: "sha256:" + ("0" if m[1] != "0" else "1"), text)
    (src / "requirements" / "install.lock").write_text(text)
    (src / "requirements" / "turn-model.lock").write_text("# cut down by tests/test_install.py\n")
    return block[1]


def run(src: Path, *args: str, root: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SENTIRIC_ROOT"}
    if root is not None:
        full_env["SENTIRIC_ROOT"] = str(root)
    full_env.update(env)
    return subprocess.run(
        ["bash", str(src / "scripts" / "install.sh"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o7777)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `root` (the venv's own files aside) with its mtime and mode."""
    out: dict[str, tuple[int, int]] = {}
    for path in root.rglob("*"):
        if ".venv/lib" in str(path) or "__pycache__" in path.parts:
            continue
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_mode)
    return out


def test_the_unit_runs_what_the_script_installs() -> None:
    """ExecStart, User and ConfigurationDirectory of the unit are the paths and user the script creates."""
    script = SCRIPT.read_text()
    app_dir = re.search(r"^APP_DIR=(\S+)$", script, re.M)
    etc_dir = re.search(r"^ETC_DIR=(\S+)$", script, re.M)
    user = re.search(r"^SYS_USER=(\S+)$", script, re.M)
    assert app_dir and etc_dir and user
    unit = UNIT.read_text()
    assert f"ExecStart={app_dir[1]}/.venv/bin/sentiric-pbx run --config {etc_dir[1]}/config.toml" in unit
    assert f"User={user[1]}" in unit and f"ConfigurationDirectory={Path(etc_dir[1]).name}" in unit


def test_dry_run_prints_the_whole_plan_and_changes_nothing(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    root = tmp_path / "root"
    result = run(src, "--system", "--dry-run", root=root)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for planned in (
        f"would create {root}/opt/sentiric-pbx (0755 root:root)",
        f"would copy {src} to {root}/opt/sentiric-pbx",
        f"would install sentiric-pbx and its bundled models into {root}/opt/sentiric-pbx/.venv",
        f"would create {root}/etc/sentiric-pbx/config.toml from sentiric-pbx.example.toml (0640",
        f"would create {root}/var/lib/sentiric-pbx (0750",
        f"would install {root}/etc/systemd/system/sentiric-pbx.service",
        "dry run: 7 change(s) planned, none made",
        "systemctl enable --now sentiric-pbx",
        "sentiric-pbx doctor",
    ):
        assert planned in out, planned
    assert "skip creating system user sentiric-pbx" in out  # never under a prefix
    assert not root.exists()


def test_dry_run_on_the_real_root_plans_the_user_and_touches_nothing(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    paths = [Path("/opt/sentiric-pbx"), Path("/etc/sentiric-pbx"), Path("/etc/systemd/system/sentiric-pbx.service")]
    before = [p.exists() for p in paths]
    user_exists = subprocess.run(["getent", "passwd", "sentiric-pbx"], capture_output=True).returncode == 0
    result = run(src, "--system", "--dry-run", root=None)
    assert result.returncode == 0, result.stderr
    if not user_exists:
        assert "would create system user sentiric-pbx (no login shell" in result.stdout
        assert subprocess.run(["getent", "passwd", "sentiric-pbx"], capture_output=True).returncode != 0
    assert [p.exists() for p in paths] == before
    assert not [
        line
        for line in result.stdout.splitlines()
        if line.startswith("install: ")
        and " would " not in line
        and not line.startswith(("install: dry run", "install: skip", "install: warning"))
    ]


def test_system_install_under_a_root_prefix_then_again_changes_nothing(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    version = small_locks(src)
    root = tmp_path / "root"
    first = run(src, "--system", root=root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "7 change(s) made" in first.stdout

    app, etc, state = root / "opt/sentiric-pbx", root / "etc/sentiric-pbx", root / "var/lib/sentiric-pbx"
    assert (mode(app), mode(etc), mode(state)) == ("0o755", "0o750", "0o750")
    config = etc / "config.toml"
    assert mode(config) == "0o640"
    assert config.read_text() == (REPO / "sentiric-pbx.example.toml").read_text()
    assert (root / "etc/systemd/system/sentiric-pbx.service").read_text() == UNIT.read_text()
    assert (app / "asterisk" / "extensions.conf").is_file()  # the dialplan's #include path
    assert not (app / ".git").exists() and not (app / "tests").exists()
    # Our package really is installed in the venv the unit's ExecStart names (not editable: /opt stands alone).
    assert os.access(app / ".venv/bin/sentiric-pbx", os.X_OK)
    installed = list((app / ".venv/lib").glob("python3.*/site-packages/sentiric_pbx/daemon.py"))
    assert installed and installed[0].read_text() == (REPO / "sentiric_pbx/daemon.py").read_text()
    # ...after exactly what the lock names (our package's own requirements are not resolved: --no-deps).
    site = installed[0].parent.parent
    assert [p.name for p in site.glob("typing_extensions-*.dist-info")] == [f"typing_extensions-{version}.dist-info"]
    assert not list(site.glob("pydantic*"))

    before = snapshot(root)
    second = run(src, "--system", root=root)
    assert second.returncode == 0, second.stderr
    assert "already installed: nothing to change" in second.stdout
    assert "would" not in second.stdout and "change(s)" not in second.stdout
    assert snapshot(root) == before

    # The admin's config is never overwritten; a changed checkout is copied and the venv rebuilt.
    config.write_text('[agent]\nmode = "echo"\n')
    (src / "sentiric_pbx" / "daemon.py").write_text((src / "sentiric_pbx" / "daemon.py").read_text() + "\n# new\n")
    plan = run(src, "--system", "--dry-run", root=root)
    assert plan.returncode == 0, plan.stderr
    assert f"would copy {src} to {app}" in plan.stdout
    assert f"would install sentiric-pbx and its bundled models into {app}/.venv" in plan.stdout
    assert "config.toml" not in plan.stdout.split("Next steps")[0]
    assert "dry run: 2 change(s) planned, none made" in plan.stdout
    assert config.read_text() == '[agent]\nmode = "echo"\n'


def test_a_package_whose_hash_is_not_the_locked_one_stops_the_install(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    small_locks(src, tamper=True)
    root = tmp_path / "root"
    result = run(src, "--system", root=root)
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr, result.stderr
    assert not list((root / "opt/sentiric-pbx/.venv/lib").glob("python3.*/site-packages/sentiric_pbx"))


def test_world_readable_config_is_warned_about(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    root = tmp_path / "root"
    (root / "etc/sentiric-pbx").mkdir(parents=True)
    config = root / "etc/sentiric-pbx/config.toml"
    config.write_text("[ami]\npassword = 'x'\n")
    config.chmod(0o644)
    result = run(src, "--system", "--dry-run", root=root)
    assert "is readable by every user" in result.stdout and "chmod 640" in result.stdout
    assert mode(config) == "0o644"  # a dry run does not even fix that


def test_bad_options_and_non_root_are_refused(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    bad = run(src, "--system", "--force", root=tmp_path / "root")
    assert bad.returncode == 2 and "unknown option '--force'" in bad.stderr
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run the script as an unprivileged user")
    # pytest's tmp dirs are 0700 (root's): run a copy of the script from a directory anyone may read.
    shared = Path(tempfile.mkdtemp(prefix="sentiric-install-"))
    try:
        shared.chmod(0o755)
        (shared / "scripts").mkdir(mode=0o755)
        shutil.copy2(SCRIPT, shared / "scripts" / "install.sh")
        result = subprocess.run(
            [
                setpriv,
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "bash",
                str(shared / "scripts/install.sh"),
                "--system",
            ],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"], "SENTIRIC_ROOT": str(shared / "root")},
            timeout=60,
        )
    finally:
        shutil.rmtree(shared)
    assert result.returncode == 2 and "--system must run as root" in result.stderr, result.stderr
