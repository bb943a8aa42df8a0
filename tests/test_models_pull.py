"""`models pull` end to end against a real HTTP server on 127.0.0.1 serving real archives.

The server is ours (http.server) so the tests can make it misbehave the way real mirrors do: cut the
connection mid-body, ignore `Range`, answer 404.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.models import load_catalog
from sentiric_pbx.models.download import pull
from sentiric_pbx.models.store import MANIFEST_NAME, ModelStore
from tests.model_files import _hermetic  # noqa: F401  (autouse: a hermetic config for every test here)

runner = CliRunner()
_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_once: set[str] = field(default_factory=set)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        served: Served = self.server.served  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        served.requests.append((self.path, rng))
        body = served.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        match = _RANGE.match(rng or "")
        if match and not served.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in served.cut_once:  # promise the whole body, deliver half, hang up
            served.cut_once.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[Served, str]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.served = Served()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd.served, f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MODEL_FILES = {
    "am/final.mdl": b"\x01acoustic" * 5000,
    "conf/model.conf": b"--sample-frequency=16000\n",
    "README": b"hi",
}


def make_zip(root: str = "vosk-model-test", extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in MODEL_FILES.items():
            zf.writestr(f"{root}/{name}", data)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in {**{f"model-tgz/{k}": v for k, v in MODEL_FILES.items()}, **(extra or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


GGUF = b"GGUF" + bytes(range(256)) * 400
ONNX = b"onnx-voice" * 3000
ONNX_JSON = b'{"audio": {"sample_rate": 22050}}'


def write_catalog(path: Path, base: str, served: Served, overrides: dict[str, dict[str, object]] | None = None) -> Path:
    """A catalog whose entries point at the test server (and whose checksums match what it serves)."""
    zip_bytes, tar_bytes = make_zip(), make_tar()
    served.files.update(
        {"/m.zip": zip_bytes, "/m.tar.gz": tar_bytes, "/tiny.gguf": GGUF, "/v.onnx": ONNX, "/v.onnx.json": ONNX_JSON}
    )
    entries: dict[str, dict[str, object]] = {
        "m-zip": {"format": "zip", "url": f"{base}/m.zip", "sha256": _sha(zip_bytes), "size": len(zip_bytes)},
        "m-tgz": {"format": "tar.gz", "url": f"{base}/m.tar.gz", "sha256": _sha(tar_bytes), "size": len(tar_bytes)},
        "m-gguf": {"format": "file", "url": f"{base}/tiny.gguf", "sha256": _sha(GGUF), "size": len(GGUF)},
    }
    for key, value in (overrides or {}).items():
        entries.setdefault(key, {}).update(value)
    lines = []
    for model_id, e in entries.items():
        kind, engine = ("llm", "llama_cpp") if e["format"] == "file" else ("stt", "vosk")
        lines += [
            "[[model]]",
            f'id = "{model_id}"',
            f'kind = "{kind}"',
            f'engine = "{engine}"',
            'language = "en-US"',
            'license = "test"',
        ]
        lines += [f"{k} = {json.dumps(v)}" for k, v in e.items()]
        lines.append("")
    lines += [
        "[[model]]",
        'id = "m-voice"',
        'kind = "tts"',
        'engine = "piper"',
        'format = "file"',
        'entry = "v.onnx"',
        "[[model.files]]",
        f'url = "{base}/v.onnx"',
        f'sha256 = "{_sha(ONNX)}"',
        f"size = {len(ONNX)}",
        "[[model.files]]",
        f'url = "{base}/v.onnx.json"',
        f'sha256 = "{_sha(ONNX_JSON)}"',
        f"size = {len(ONNX_JSON)}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def env(tmp_path: Path, server: tuple[Served, str]) -> tuple[Served, Path, list[str]]:
    """(server state, models dir, the CLI options that point at them)."""
    served, base = server
    catalog = write_catalog(tmp_path / "catalog.toml", base, served)
    models = tmp_path / "models"
    return served, models, ["--models-dir", str(models), "--catalog", str(catalog)]


def cli(*args: str) -> object:
    return runner.invoke(app, ["models", *args])


def _no_leftovers(models: Path) -> None:
    assert not [p for p in models.iterdir() if p.name.startswith((".tmp-", ".trash-"))]
    assert not (models / ".downloads").exists() or not any((models / ".downloads").iterdir())


@pytest.mark.parametrize(("model_id", "root"), [("m-zip", "m-zip"), ("m-tgz", "m-tgz")])
def test_pull_archive_unpacks_atomically_into_the_model_dir(env, model_id: str, root: str) -> None:
    served, models, opts = env
    result = cli("pull", model_id, *opts)
    assert result.exit_code == 0, result.output
    model_dir = models / root
    # the archive's single top-level folder became the model directory
    for name, data in MODEL_FILES.items():
        assert (model_dir / name).read_bytes() == data
    manifest = json.loads((model_dir / MANIFEST_NAME).read_text())
    assert manifest["id"] == model_id and manifest["verified"] is True
    assert manifest["source"]["type"] == "url" and manifest["installed_at"]
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {k: _sha(v) for k, v in MODEL_FILES.items()}
    assert manifest["archive"]["sha256"] == _sha(served.files[f"/m.{'zip' if root == 'm-zip' else 'tar.gz'}"])
    path = cli("path", model_id, *opts)
    assert path.exit_code == 0 and path.stdout.strip() == str(model_dir)
    _no_leftovers(models)


def test_pull_single_file_and_multi_file_voice(env) -> None:
    _, models, opts = env
    assert cli("pull", "m-gguf", *opts).exit_code == 0
    assert cli("pull", "m-voice", *opts).exit_code == 0
    gguf = Path(cli("path", "m-gguf", *opts).stdout.strip())
    assert gguf == models / "m-gguf" / "tiny.gguf" and gguf.read_bytes() == GGUF
    onnx = Path(cli("path", "m-voice", *opts).stdout.strip())
    assert onnx.name == "v.onnx" and onnx.read_bytes() == ONNX
    assert Path(f"{onnx}.json").read_bytes() == ONNX_JSON  # where Piper looks for its config
    again = cli("pull", "m-gguf", *opts)
    assert again.exit_code == 0 and "already installed" in again.stdout
    _no_leftovers(models)


def test_resume_after_the_server_cuts_the_connection(env) -> None:
    served, models, opts = env
    served.cut_once.add("/m.zip")
    first = cli("pull", "m-zip", "--retries", "1", *opts)
    assert first.exit_code == 2
    assert "cannot download" in first.stderr and len(first.stderr.strip().splitlines()) == 1
    part = models / ".downloads" / "m-zip" / "m.zip.part"
    kept = part.stat().st_size
    assert 0 < kept < len(served.files["/m.zip"])
    assert not (models / "m-zip").exists()

    second = cli("pull", "m-zip", *opts)
    assert second.exit_code == 0, second.output
    assert served.requests[-1] == ("/m.zip", f"bytes={kept}-")
    assert (models / "m-zip" / "am" / "final.mdl").read_bytes() == MODEL_FILES["am/final.mdl"]
    _no_leftovers(models)


def test_one_pull_retries_and_resumes_by_itself(env) -> None:
    served, models, opts = env
    catalog = load_catalog(Path(opts[3]))
    served.cut_once.add("/tiny.gguf")
    result = pull(catalog["m-gguf"], ModelStore(models), attempts=3, retry_delay=0)
    assert result.path.read_bytes() == GGUF
    ranges = [r for p, r in served.requests if p == "/tiny.gguf"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(GGUF) // 2}-"


def test_a_server_that_ignores_range_is_restarted_from_zero(env) -> None:
    served, models, opts = env
    served.ignore_range = True
    part = models / ".downloads" / "m-gguf" / "tiny.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale garbage from an older attempt")
    result = cli("pull", "m-gguf", *opts)
    assert result.exit_code == 0, result.output
    assert served.requests[-1][1] == "bytes=35-"  # it asked to resume …
    assert (models / "m-gguf" / "tiny.gguf").read_bytes() == GGUF  # … got 200, and started over


def test_checksum_mismatch_deletes_the_partial_file_and_names_both_hashes(tmp_path, server) -> None:
    served, base = server
    wrong = "ab" * 32
    catalog = write_catalog(tmp_path / "c.toml", base, served, {"m-gguf": {"sha256": wrong}})
    models = tmp_path / "models"
    result = cli("pull", "m-gguf", "--models-dir", str(models), "--catalog", str(catalog))
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "m-gguf" in line and wrong in line and _sha(GGUF) in line
    assert not (models / ".downloads" / "m-gguf" / "tiny.gguf.part").exists()
    assert not (models / "m-gguf").exists()


def test_404_is_one_clear_line(tmp_path, server) -> None:
    served, base = server
    catalog = write_catalog(tmp_path / "c.toml", base, served, {"m-gguf": {"url": f"{base}/missing.gguf"}})
    result = cli("pull", "m-gguf", "--models-dir", str(tmp_path / "m"), "--catalog", str(catalog))
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "HTTP 404" in result.stderr and "/missing.gguf" in result.stderr
    _no_leftovers(tmp_path / "m")


def test_connection_refused_is_one_clear_line(tmp_path, server) -> None:
    served, base = server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    catalog = write_catalog(tmp_path / "c.toml", base, served, {"m-gguf": {"url": f"{dead}/tiny.gguf"}})
    result = cli("pull", "m-gguf", "--retries", "1", "--models-dir", str(tmp_path / "m"), "--catalog", str(catalog))
    assert result.exit_code == 2
    assert result.stderr.startswith("sentiric-pbx: error: cannot download") and result.stderr.count("\n") == 1
    _no_leftovers(tmp_path / "m")


@pytest.mark.parametrize(
    ("fmt", "archive"),
    [
        ("zip", lambda: make_zip(extra={"../evil.txt": b"owned"})),
        ("zip", lambda: make_zip(extra={"/tmp/evil-abs.txt": b"owned"})),
        ("tar.gz", lambda: make_tar(extra={"../evil.txt": b"owned"})),
    ],
)
def test_archive_members_escaping_the_model_dir_are_rejected(tmp_path, server, fmt, archive) -> None:
    served, base = server
    data = archive()
    served.files["/evil"] = data
    catalog = write_catalog(
        tmp_path / "c.toml",
        base,
        served,
        {"m-evil": {"format": fmt, "url": f"{base}/evil", "sha256": _sha(data), "size": len(data)}},
    )
    models = tmp_path / "models"
    result = cli("pull", "m-evil", "--models-dir", str(models), "--catalog", str(catalog))
    assert result.exit_code == 2
    assert "unsafe" in result.stderr
    assert not (tmp_path / "evil.txt").exists() and not (models / "evil.txt").exists()
    assert not Path("/tmp/evil-abs.txt").exists()
    assert not (models / "m-evil").exists()
    _no_leftovers(models)


def test_unverified_entry_needs_the_flag_and_shows_its_computed_sha(tmp_path, server) -> None:
    served, base = server
    catalog = write_catalog(tmp_path / "c.toml", base, served, {"m-gguf": {"sha256": "", "size": 0}})
    opts = ["--models-dir", str(tmp_path / "m"), "--catalog", str(catalog)]
    refused = cli("pull", "m-gguf", *opts)
    assert refused.exit_code == 2 and "--allow-unverified" in refused.stderr
    assert not served.requests  # refused before downloading anything
    allowed = cli("pull", "m-gguf", "--allow-unverified", *opts)
    assert allowed.exit_code == 0, allowed.output
    assert _sha(GGUF) in allowed.stdout
    states = {r["id"]: r["state"] for r in json.loads(cli("list", "--json", *opts).stdout)}
    assert states["m-gguf"] == "installed-unverified"


def test_list_json_reports_every_state(env) -> None:
    _, _, opts = env
    assert cli("pull", "m-zip", *opts).exit_code == 0
    result = cli("list", "--json", *opts)
    assert result.exit_code == 0
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert rows["m-zip"]["state"] == "installed" and rows["m-zip"]["path"].endswith("m-zip")
    assert rows["m-tgz"]["state"] == "not installed" and rows["m-tgz"]["path"] is None
    assert rows["m-voice"]["origin"] == "catalog"
    # the bundled model packages are installed in this venv, but nothing was imported here
    assert rows["bundled:whisper-base"]["state"] == "bundled-available"
    assert rows["bundled:gemma3-270m"]["origin"] == "bundled"
    text = cli("list", *opts)
    assert text.exit_code == 0 and "m-zip" in text.stdout and "bundled-available" in text.stdout


def test_verify_detects_a_corrupted_file(env) -> None:
    _, models, opts = env
    assert cli("pull", "m-tgz", *opts).exit_code == 0
    ok = cli("verify", "m-tgz", *opts[:2])
    assert ok.exit_code == 0 and "ok m-tgz (3 files)" in ok.stdout
    target = models / "m-tgz" / "conf" / "model.conf"
    target.write_bytes(b"--sample-frequency=8000\n")
    bad = cli("verify", *opts[:2])
    assert bad.exit_code == 1
    assert "conf/model.conf" in bad.stderr and _sha(MODEL_FILES["conf/model.conf"]) in bad.stderr


def test_remove_then_path_says_how_to_get_it_back(env) -> None:
    _, models, opts = env
    assert cli("pull", "m-gguf", *opts).exit_code == 0
    removed = cli("remove", "m-gguf", *opts[:2])
    assert removed.exit_code == 0 and not (models / "m-gguf").exists()
    missing = cli("path", "m-gguf", *opts)
    assert missing.exit_code == 2
    assert "sentiric-pbx models pull m-gguf" in missing.stderr
    assert cli("remove", "m-gguf", *opts[:2]).exit_code == 2


def test_force_replaces_an_installed_model(env) -> None:
    served, models, opts = env
    assert cli("pull", "m-zip", *opts).exit_code == 0
    (models / "m-zip" / "README").write_bytes(b"tampered")
    assert cli("pull", "m-zip", "--force", *opts).exit_code == 0
    assert (models / "m-zip" / "README").read_bytes() == MODEL_FILES["README"]
    assert sum(1 for p, _ in served.requests if p == "/m.zip") == 2
    _no_leftovers(models)


def test_unknown_id_and_bundled_id_are_explained(env) -> None:
    _, _, opts = env
    unknown = cli("pull", "nope", *opts)
    assert unknown.exit_code == 2 and "unknown model id nope" in unknown.stderr
    bundled = cli("pull", "bundled:whisper-base", *opts)
    assert bundled.exit_code == 2 and "models import bundled:whisper-base" in bundled.stderr
