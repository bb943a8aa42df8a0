"""A real PostgreSQL on a free 127.0.0.1 port, for tests of the site store (`[storage] database_url`).

Debian's `postgresql` package (CI installs it: .ci/run): `initdb` into a fresh directory under /tmp,
`pg_ctl start` on a free loopback port with its unix socket in that directory, stopped and removed after.
Durability is off (`fsync=off`…): a test never survives a power cut, and it makes a fresh database cheap.

Connections over TCP need the password (scram-sha-256), as a real site's would, so a test can see an
authentication failure; `admin_*` go through the unix socket, which trusts the OS user running the server.
PostgreSQL refuses to run as root, so under root (CI's container) it runs as the `postgres` user
the package creates (or `nobody`) — and the directory lives under /tmp, not pytest's 0700 tmp_path.

    @pytest.fixture(scope="session")
    def postgres_server():
        with PostgresServer() as server:
            yield server

    def test_x(postgres_server):
        url = postgres_server.create_database()   # postgresql://sentiric:…@127.0.0.1:PORT/test_1
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import pytest

from sentiric_pbx.storage.db import Database

USER = "sentiric"
PASSWORD = "site-store-test-password"
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(os.path.realpath(initdb)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def unavailable(reason: str) -> None:
    """Skip, or fail under CI=true: CI installs PostgreSQL, so there a missing server is a broken CI box."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests: {reason} (CI=true: a missing PostgreSQL is a failure, not a skip)")
    pytest.skip(f"PostgreSQL tests skipped: {reason} (apt-get install postgresql)")


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        bindir = find_bindir()
        if bindir is None or not (bindir / "pg_ctl").exists():
            unavailable("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
        assert bindir is not None
        self.bindir = bindir
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="sentiric-pg-"))
        self.datadir = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self._names = itertools.count(1)
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self._user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if self._user is None:
                unavailable("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")
            assert self._user is not None
            os.chown(self.workdir, self._user.pw_uid, self._user.pw_gid)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(  # type: ignore[call-overload,no-any-return]
            args, capture_output=True, text=True, check=check, timeout=START_TIMEOUT_S, cwd=self.workdir, **kwargs
        )

    def url(self, dbname: str = "postgres", *, password: str | None = PASSWORD, user: str = USER) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", USER, f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                "--no-sync", "--no-instructions",
            )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        done = self._run(
            str(self.bindir / "pg_ctl"), "start", "-D", str(self.datadir), "-l", str(self.log), "-o", options, "-w",
            "-t", str(START_TIMEOUT_S), check=False,
        )  # fmt: skip
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start on port {self.port}: {done.stdout}{done.stderr}\n{tail}")
        return self

    def admin(self, sql: str) -> None:
        """One statement as the superuser over the unix socket (CREATE DATABASE, ALTER ROLE…)."""
        import psycopg

        with psycopg.connect(host=str(self.workdir), port=self.port, user=USER, dbname="postgres",
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL (with the password)."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "immediate", "-w",
                      check=False)  # fmt: skip

    def __enter__(self) -> PostgresServer:
        # The free port may be taken between our probe and the server's bind; pick another then.
        try:
            return self.start()
        except RuntimeError:
            self.port = free_port()
            return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """One server for the whole session (initdb is the slow part); each test makes its own database."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database of the session's server: postgresql://sentiric:…@127.0.0.1:PORT/test_N."""
    return postgres_server.create_database()


BACKENDS = ["sqlite", "postgresql"]
"""`@pytest.fixture(params=BACKENDS)`: a store test run on the one-host SQLite file and on the site store."""


async def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The migrated database of `request.param`: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        from sentiric_pbx.storage.postgres import PostgresDatabase

        return await PostgresDatabase.connect(request.getfixturevalue("postgres_url"))
    return await Database.open(tmp_path / "sentiric.db")
