"""A real Asterisk for one test: its own directory, ports and process, the project's configs included.

Why our own runner: the suite must run with the Asterisk 22.10.1 bundle beside the checkout
(`../shared/asterisk/22.10.1`), with an admin's own build (`SENTIRIC_TEST_ASTERISK=/path/to/sbin/asterisk`),
and from a user's clone that has neither (then the suite skips with one line, or fails under `CI=true`).

What the instance loads, everything bound to 127.0.0.1:
- `extensions.conf` = `#include` of the project's `asterisk/extensions.conf`, unchanged (it dials the
  daemon's FastAGI 4573 and AudioSocket 9092, so the daemon under test listens there);
- `manager.conf`, `ari.conf`, `http.conf`, `pjsip.conf` = the project's, with only the port numbers
  and the `CHANGE-ME` passwords replaced (so their permissions and endpoints are what an admin gets);
- a minimal `asterisk.conf`, `modules.conf`, `logger.conf`, `rtp.conf` of our own.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT_CONFS = REPO / "asterisk"
BUNDLE = next(
    (b for b in (d / "shared" / "asterisk" / "22.10.1" for d in REPO.parents) if (b / "sbin" / "asterisk").is_file()),
    REPO.parent / "shared" / "asterisk" / "22.10.1",
)
"""The Asterisk build that ships beside the project's checkouts (`../shared/asterisk`)."""
SECRET = "sentiric-test"
"""The AMI secret, ARI password and SIP passwords of every test instance (loopback only)."""

MODULES_NOT_LOADED = (
    # Not needed here and noisy or slow to start without their own config or network access.
    "res_pjsip_transport_websocket.so",
    "res_stun_monitor.so",
    "res_pjsip_outbound_publish.so",
    "res_pjsip_publish_asterisk.so",
    "res_pjsip_phoneprov_provider.so",
    "res_phoneprov.so",
    "res_security_log.so",
    "res_geolocation.so",
    "res_pjsip_geolocation.so",
    "res_config_pgsql.so",
    "res_config_ldap.so",
    "res_parking.so",
    "app_amd.so",
    "app_followme.so",
    "res_pjsip_exten_state.so",
    "res_pjsip_notify.so",
    "cdr_sqlite3_custom.so",
    "cel_sqlite3_custom.so",
    "chan_iax2.so",
    "chan_unistim.so",
)


class AsteriskUnavailable(RuntimeError):
    """No Asterisk to test against; the message says how to get one."""


@dataclass(frozen=True, slots=True)
class Install:
    """Where an Asterisk's binary, modules, libraries and data (XML docs, needed by Stasis) live."""

    binary: Path
    modules: Path
    libdir: Path | None
    datadir: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.libdir is not None:
            env["LD_LIBRARY_PATH"] = (
                f"{self.libdir}:{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else str(self.libdir)
            )
        return env


def find_install() -> Install:
    """`SENTIRIC_TEST_ASTERISK`, else the bundle beside the checkout; `AsteriskUnavailable` otherwise."""
    explicit = os.environ.get("SENTIRIC_TEST_ASTERISK")
    if explicit:
        binary = Path(explicit)
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise AsteriskUnavailable(f"SENTIRIC_TEST_ASTERISK={explicit} is not an executable file")
        prefix = binary.resolve().parent.parent
        modules_env = os.environ.get("SENTIRIC_TEST_ASTERISK_MODULES")
        candidates = [
            Path(modules_env) if modules_env else None,
            prefix / "lib" / "asterisk" / "modules",
            prefix / "lib64" / "asterisk" / "modules",
            *sorted((prefix / "lib").glob("*-linux-gnu/asterisk/modules")),
        ]
        modules = next((c for c in candidates if c is not None and c.is_dir()), None)
        if modules is None:
            raise AsteriskUnavailable(
                f"no modules directory found for {binary}; set SENTIRIC_TEST_ASTERISK_MODULES=/path/to/modules"
            )
        libdir = prefix / "lib" if (prefix / "lib" / "libasteriskpj.so").exists() else None
        datadir = next(
            (d for d in (prefix / "share" / "asterisk", prefix / "share") if (d / "documentation").is_dir()),
            prefix / "share" / "asterisk",
        )
        return Install(binary, modules, libdir, datadir)
    binary = BUNDLE / "sbin" / "asterisk"
    if binary.is_file():
        return Install(binary, BUNDLE / "lib" / "asterisk" / "modules", BUNDLE / "lib", BUNDLE / "share")
    raise AsteriskUnavailable(
        f"no Asterisk to test against: {BUNDLE} is missing and SENTIRIC_TEST_ASTERISK is not set "
        "(point it at an Asterisk 22 binary, e.g. SENTIRIC_TEST_ASTERISK=/usr/sbin/asterisk)"
    )


def _port_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_rtp_range(size: int = 200) -> int:
    """A start port with `size` free UDP ports after it (Asterisk binds RTP anywhere in the range)."""
    for _ in range(50):
        start = random.randrange(20000, 30000, 2)
        if all(_port_free(p, socket.SOCK_DGRAM) for p in range(start, start + size, 17)):
            return start
    raise RuntimeError("no free UDP range for Asterisk's RTP")


@dataclass(frozen=True, slots=True)
class Ports:
    sip: int
    ami: int
    http: int
    rtp_start: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(free_port(socket.SOCK_DGRAM), free_port(), free_port(), free_rtp_range())


class Asterisk:
    """One Asterisk process in `root`; `start()`, `stop()`, `restart()`, `rx("core show channels")`."""

    def __init__(self, install: Install, root: Path, ports: Ports | None = None) -> None:
        self.install = install
        self.root = root
        self.ports = ports or Ports.pick()
        self.proc: subprocess.Popen[bytes] | None = None

    # -- where things are --------------------------------------------------------------------
    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def log_path(self) -> Path:
        return self.root / "var" / "log" / "messages.log"

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}/ari"

    # -- configuration -----------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("etc", "var/lib", "var/spool", "var/run", "var/log", "var/lib/agi-bin", "sounds"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        d, i, p = self.root, self.install, self.ports
        files = {
            "asterisk.conf": f"""[directories]
astetcdir => {d}/etc
astmoddir => {i.modules}
astvarlibdir => {d}/var/lib
astdbdir => {d}/var/lib
astkeydir => {d}/var/lib
astdatadir => {i.datadir}
astagidir => {d}/var/lib/agi-bin
astspooldir => {d}/var/spool
astrundir => {d}/var/run
astlogdir => {d}/var/log
astsbindir => {i.binary.parent}
[options]
verbose = 3
timestamp = yes
documentation_language = en_US
hideconnect = yes
""",
            "modules.conf": "[modules]\nautoload = yes\n" + "".join(f"noload => {m}\n" for m in MODULES_NOT_LOADED),
            "logger.conf": "[general]\ndateformat = %F %T.%3q\n[logfiles]\n"
            "console => notice,warning,error,verbose\nmessages.log => notice,warning,error,verbose\n",
            "cdr.conf": "[general]\nenable = no\n",
            "cel.conf": "[general]\nenable = no\n",
            "rtp.conf": f"[general]\nrtpstart = {p.rtp_start}\nrtpend = {p.rtp_start + 199}\n",
            "indications.conf": "[general]\ncountry = us\n[us]\ndescription = United States\n"
            "ringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\n"
            "ring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\n",
            "musiconhold.conf": f"[default]\nmode = files\ndirectory = {d}/sounds\n",
            "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\n\n"
            f'#include "{PROJECT_CONFS / "extensions.conf"}"\n',
            "manager.conf": self._project_conf("manager.conf", {r"^port = 5038$": f"port = {p.ami}"}),
            "http.conf": self._project_conf("http.conf", {r"^bindport = 8088$": f"bindport = {p.http}"}),
            "ari.conf": self._project_conf("ari.conf", {}),
            "pjsip.conf": self._project_conf("pjsip.conf", {r"^bind = 0\.0\.0\.0:5060$": f"bind = 127.0.0.1:{p.sip}"}),
        }
        for name, text in files.items():
            (self.etc / name).write_text(text)

    def _project_conf(self, name: str, replacements: dict[str, str]) -> str:
        """The project's file with only ports and placeholder passwords replaced; each replacement must apply."""
        text = (PROJECT_CONFS / name).read_text()
        for pattern, value in {**replacements, r"^(secret|password) = CHANGE-ME$": rf"\1 = {SECRET}"}.items():
            text, n = re.subn(pattern, value, text, flags=re.MULTILINE)
            if n == 0 and "CHANGE-ME" not in pattern:
                raise AssertionError(f"asterisk/{name} no longer has a line matching {pattern!r}")
        return text

    # -- process -----------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        self.write_config()
        log = (self.root / "var" / "log" / "console.log").open("ab")
        self.proc = subprocess.Popen(
            [str(self.install.binary), "-C", str(self.etc / "asterisk.conf"), "-f"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=self.install.env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Asterisk exited with status {self.proc.returncode}:\n{self.console_tail()}")
            if (self.root / "var" / "run" / "asterisk.ctl").exists():
                try:
                    if self.rx("core waitfullybooted", timeout_s=10).returncode == 0:
                        return
                except subprocess.TimeoutExpired:
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Asterisk did not boot within {timeout_s} s:\n{self.console_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            self.rx("core stop now", timeout_s=10)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def rx(self, command: str, timeout_s: float = 15.0) -> subprocess.CompletedProcess[str]:
        """Run a CLI command in the running instance (`asterisk -rx`)."""
        return subprocess.run(
            [str(self.install.binary), "-C", str(self.etc / "asterisk.conf"), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=self.install.env,
        )

    def cli(self, command: str) -> str:
        result = self.rx(command)
        return result.stdout + result.stderr

    def console_tail(self, chars: int = 4000) -> str:
        path = self.root / "var" / "log" / "console.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no console log)"


def have_binary(name: str) -> bool:
    return shutil.which(name) is not None
