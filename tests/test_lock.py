"""The lock files scripts/install.sh installs from (requirements/*.lock) are whole and current.

pip installs them with `--require-hashes --no-deps`, so nothing resolves at install time: a requirement
of pyproject.toml missing from a lock (someone added a dependency and did not run scripts/lock.sh) would
simply not be installed on a PBX host, and a lock pinning a version pyproject.toml no longer allows would
install it anyway. These tests say which, and that the command is `scripts/lock.sh`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCKS = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ; (.+?))? \\$")
HASH = re.compile(r"^    --hash=sha256:[0-9a-f]{64}( \\)?$")


def pins(lock: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """name → version of every package the lock installs on `env` (this interpreter by default)."""
    from packaging.markers import Marker

    out: dict[str, str] = {}
    lines = lock.read_text().splitlines()
    for i, line in enumerate(lines):
        m = PIN.match(line)
        if m is None:
            continue
        assert HASH.match(lines[i + 1]), f"{lock.name}: {m[1]} has no sha256"
        if m[3] is None or Marker(m[3]).evaluate(env):
            out[canonicalize_name(m[1])] = m[2]
    return out


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements(*extras: str) -> list[Requirement]:
    proj = project()
    found = [Requirement(r) for r in proj["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in proj["optional-dependencies"][extra]]
    return found


@pytest.mark.parametrize(
    ("lock", "extras"), [("install.lock", ("bundled", "llm")), ("test.lock", ("bundled", "llm", "test", "bench"))]
)
@pytest.mark.parametrize("python", ["3.11", "3.13"])  # Debian 12's and Debian 13's
def test_every_requirement_is_locked_at_a_version_pyproject_allows(
    lock: str, extras: tuple[str, ...], python: str
) -> None:
    env = default_environment() | {"python_version": python, "python_full_version": f"{python}.0"}
    locked = pins(LOCKS / lock, env)
    for req in requirements(*extras):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in requirements/{lock}: run scripts/lock.sh"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={locked[name]}, pyproject.toml asks {req}: run scripts/lock.sh"
        )


def test_a_host_installs_the_versions_the_tests_ran_with() -> None:
    """install.lock is held to test.lock's versions (scripts/lock.sh resolves it with test.lock as constraints)."""
    install, test = pins(LOCKS / "install.lock"), pins(LOCKS / "test.lock")
    assert install and set(install) < set(test)
    assert {n: v for n, v in test.items() if n in install} == install


def test_the_model_packages_are_pinned_exactly() -> None:
    """A new upload under the same name is new model bytes: taken only on purpose, never by a reinstall."""
    from sentiric_pbx.models.bundled import BUNDLED, PIPECAT_DIST

    bundled = {canonicalize_name(r.name): r for r in requirements("bundled")}
    model_dists = {d for m in BUNDLED.values() if not m.opt_in for d in m.dists if d != PIPECAT_DIST}
    assert model_dists  # whisper-base's two parts, the joe voice, gemma, vosk-ko
    for dist in model_dists:
        req = bundled[canonicalize_name(dist)]
        assert [s.operator for s in req.specifier] == ["=="], req


def test_the_turn_model_pin_is_the_one_the_model_manager_expects() -> None:
    from sentiric_pbx.models.bundled import PIPECAT_DIST, PIPECAT_VERSION

    assert f"{PIPECAT_DIST}=={PIPECAT_VERSION}" in (LOCKS / "turn-model.in").read_text().splitlines()
    assert pins(LOCKS / "turn-model.lock") == {PIPECAT_DIST: PIPECAT_VERSION}


def test_the_instruct_model_slices_are_locked_at_the_version_the_model_manager_joins() -> None:
    """`install.sh test` installs Qwen2.5-Coder-1.5B's 22 slice packages (the post-call model's tests run it):
    exactly the distributions and version `bundled:qwen2.5-coder-1.5b-instruct` joins and checks."""
    from sentiric_pbx.models.bundled import BUNDLED

    spec = BUNDLED["qwen2.5-coder-1.5b-instruct"]
    (version,) = {v for v in (pins(LOCKS / "instruct-model.lock")).values()}
    wanted = {canonicalize_name(d): version for d in spec.dists}
    assert len(wanted) == 22 and f"{spec.dists[0]}=={version}" in spec.install_command
    assert pins(LOCKS / "instruct-model.lock") == wanted
    listed = [line for line in (LOCKS / "instruct-model.in").read_text().splitlines() if not line.startswith("#")]
    assert sorted(listed) == sorted(f"{d}=={version}" for d in spec.dists)
