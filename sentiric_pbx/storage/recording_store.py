"""Where finished recordings live when several PBX hosts share a site: `[storage] recordings_url`.

A recording is written on the host that answered the call; any host must be able to read it later
(`calls show`, the console, the archive job run by a worker elsewhere). So the answering host copies it
to a store every host reads (recording_upload.py) and the call's record keeps the object's URL:
- `s3://bucket/prefix`: an S3-compatible bucket (AWS, MinIO, Ceph; `recordings_endpoint_url` for the
  non-AWS ones). boto3 finds the credentials itself (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile,
  an instance role); they never pass through our settings or our logs.
- a directory (`/srv/recordings` or `file:///srv/recordings`), typically a shared mount (NFS, CephFS).

Objects are named `<prefix>/<call_id>.wav` (and `.json` for the archived transcript): the name follows
from the call alone, so a job on another host knows where to look before the upload is done, and an
upload retried after a crash overwrites the same object instead of leaving a second one.
boto3 blocks: every call here runs in a thread (`asyncio.to_thread`), never on a call's event loop.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from sentiric_pbx.config import Settings
from sentiric_pbx.storage.private import create_private_dirs, write_private_atomically


class RecordingStore(Protocol):
    """A place every host reads. Methods block (run them in a thread); keys are `<call_id>.wav|.json`."""

    def url_for(self, key: str) -> str: ...

    def put_file(self, source: Path, key: str) -> str:
        """Upload `source` as `key`; the URL once the store holds it whole (size checked)."""
        ...

    def put_bytes(self, data: bytes, key: str) -> str: ...

    def size(self, url: str) -> int | None:
        """The stored object's size in bytes, or None when it is not there (yet)."""
        ...

    def read(self, url: str) -> bytes: ...

    def delete(self, url: str) -> None: ...


def _check_key(key: str) -> str:
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise ValueError(f"{key!r} cannot name a recording")
    return key


class DirectoryStore:
    """Recordings in a directory, usually a mount every host has (NFS, CephFS, SMB).

    A write goes to a temporary name and is renamed into place after fsync, so a reader on another host
    never sees half a file under the final name; files are 0640 like every other recording."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def url_for(self, key: str) -> str:
        return (self.root / _check_key(key)).as_uri()

    def _path(self, url: str) -> Path:
        parsed = urlparse(url)
        path = Path(parsed.path) if parsed.scheme == "file" else Path(url)
        if path.parent != self.root:
            raise ValueError(f"{url} is not in the recordings directory {self.root}")
        return path

    def _write(self, key: str, fill: Any) -> str:
        create_private_dirs(self.root)
        dest = self.root / _check_key(key)
        write_private_atomically(dest, fill)
        return dest.as_uri()

    def put_file(self, source: Path, key: str) -> str:
        def fill(out: Any) -> None:
            with source.open("rb") as inp:
                shutil.copyfileobj(inp, out, 1 << 20)

        url = self._write(key, fill)
        if self.size(url) != source.stat().st_size:
            raise OSError(f"{url} does not hold the whole recording")
        return url

    def put_bytes(self, data: bytes, key: str) -> str:
        return self._write(key, lambda out: out.write(data))

    def size(self, url: str) -> int | None:
        try:
            return self._path(url).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, url: str) -> bytes:
        return self._path(url).read_bytes()

    def delete(self, url: str) -> None:
        self._path(url).unlink(missing_ok=True)


class S3Store:
    """Recordings in an S3-compatible bucket through boto3 (its own retries off: ours back off longer).

    `endpoint_url`: MinIO, Ceph RGW or another S3 API (None: AWS). Credentials come from boto3's usual
    chain (environment, ~/.aws, instance role) and are never read or logged here."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            # Short timeouts and one attempt: the uploader's own backoff decides how long to keep trying,
            # and a store that is down must not hold a thread for minutes.
            config=Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 1, "mode": "standard"}),
        )

    def _object(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object(key)}"

    def _key_of(self, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or parsed.netloc != self.bucket:
            raise ValueError(f"{url} is not in the bucket {self.bucket}")
        return parsed.path.lstrip("/")

    def put_file(self, source: Path, key: str) -> str:
        url = self.url_for(key)
        self._client.upload_file(str(source), self.bucket, self._object(key))
        if self.size(url) != source.stat().st_size:  # confirmed by HEAD before the local copy may go
            raise OSError(f"{url} does not hold the whole recording")
        return url

    def put_bytes(self, data: bytes, key: str) -> str:
        self._client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        return self.url_for(key)

    def size(self, url: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key_of(url))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def read(self, url: str) -> bytes:
        body = self._client.get_object(Bucket=self.bucket, Key=self._key_of(url))["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def delete(self, url: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key_of(url))


def open_recording_store(
    url: str | None, *, endpoint_url: str | None = None, region: str | None = None
) -> RecordingStore | None:
    """The store `[storage] recordings_url` names, or None (recordings stay on the answering host)."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"recordings_url {url!r} names no bucket (s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=endpoint_url, region=region)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else url)
        if not path.is_absolute():
            raise ValueError(f"recordings_url {url!r}: a directory must be an absolute path")
        return DirectoryStore(path)
    raise ValueError(f"recordings_url {url!r}: use s3://bucket/prefix or an absolute directory")


def recording_store(settings: Settings) -> RecordingStore | None:
    """The store this host's `[storage]` section names, or None."""
    st = settings.storage
    url, endpoint, region = st.recordings_url, st.recordings_endpoint_url, st.recordings_region
    return open_recording_store(url, endpoint_url=endpoint, region=region)


def call_recording(archive: dict[str, Any] | None, context: dict[str, Any]) -> str | None:
    """The one place a call's recording is named: its archive, else the shared store's URL, else the file
    the answering host wrote (on that host only)."""
    return (archive or {}).get("wav_path") or context.get("recording_url") or context.get("recording_path")


def _local_path(ref: str) -> Path:
    parsed = urlparse(ref)
    return Path(parsed.path) if parsed.scheme == "file" else Path(ref)


def recording_readable(ref: str | None, store: RecordingStore | None) -> bool:
    """Can this host read the recording? A file here or on a mount, or an object the store holds."""
    if not ref:
        return False
    if urlparse(ref).scheme == "s3":
        if store is None:
            return False
        try:
            return store.size(ref) is not None
        except Exception:  # the store is down: not readable now, said as "(not readable)"
            return False
    return _local_path(ref).is_file()


def read_recording(ref: str, store: RecordingStore | None) -> bytes:
    """The recording's bytes from wherever `recording_readable` found it."""
    if urlparse(ref).scheme == "s3":
        if store is None:
            raise FileNotFoundError(f"{ref}: no [storage] recordings_url on this host to read it from")
        return store.read(ref)
    return _local_path(ref).read_bytes()


__all__ = [
    "DirectoryStore",
    "RecordingStore",
    "S3Store",
    "call_recording",
    "open_recording_store",
    "read_recording",
    "recording_readable",
    "recording_store",
]
