"""A real S3-protocol server for the tests: moto's standalone server (Flask/werkzeug speaking the S3 HTTP
API) on a free loopback port, in a thread of the test process, so daemons in other processes reach it too.

No MinIO is installable here; moto answers the same requests boto3 sends to MinIO or AWS (PUT, HEAD, GET,
DELETE, multipart) over a real socket. Its objects live in the test process's memory, so `stop()` then
`start()` on the same port is a store that went down and came back with what it held.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

BUCKET = "site-recordings"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key-id", "AWS_SECRET_ACCESS_KEY": "test-secret-key"}
"""What a host's environment would hold (boto3 reads them); moto accepts any."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def create_bucket(self, name: str = BUCKET) -> None:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", **_keys())
        client.create_bucket(Bucket=name)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@contextmanager
def running_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A started server with the bucket made and the credentials in the environment (as on a host)."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra: pip install -e '.[test]'")
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = S3Server().start()
    try:
        server.create_bucket()
        yield server
    finally:
        server.stop()
