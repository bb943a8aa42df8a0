"""Who is calling (the seed's step 2.1) and what happened (step 5): the built-in CRM, an HTTP CRM, the CLI.

The HTTP CRM is a real server on 127.0.0.1 (tests/crm_server.py) that can answer, fail, or hang.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.cli_crm import crm_app
from sentiric_pbx.config import Settings
from sentiric_pbx.integrations.crm.base import CallSummary, CrmError
from sentiric_pbx.integrations.crm.factory import build_crm, lookup_caller
from sentiric_pbx.integrations.crm.http import HttpCrm
from sentiric_pbx.integrations.crm.sqlite import SqliteCrm
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.postgres import PostgresDatabase
from tests.crm_server import FakeCrm
from tests.postgres_server import BACKENDS, open_backend
from tests.redis_server import free_port

SECRET = "Bearer s3cr3t-crm-token"
AHMET = {"customer_id": 12345, "name": "Ahmet Yılmaz", "last_interaction": "2023-11-20", "vip": True}


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Log assertions must not depend on a level another test's CLI run configured for the process."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_backend(request, tmp_path)
    yield database
    await database.aclose()


@pytest.fixture
def crm(db: Database) -> SqliteCrm:
    return SqliteCrm(db, timezone="Europe/Istanbul", default_country_code="90")


def summary(call_id: str, when: datetime, phone: str | None = "+905551112233") -> CallSummary:
    ts = when.timestamp()
    return CallSummary(call_id, None, phone, ts - 60, ts, "completed", "Booked for Tuesday.", ["create_appointment"])


# --- the built-in CRM -------------------------------------------------------------------------


@pytest.mark.parametrize("entered", ["0555 111 22 33", "+90 555 111 22 33", "905551112233", "00905551112233"])
@pytest.mark.parametrize("presented", ["+905551112233", "05551112233", "(0555) 111-22-33"])
async def test_a_customer_is_found_whatever_format_the_number_arrives_in(
    crm: SqliteCrm, entered: str, presented: str
) -> None:
    await crm.add_customer(entered, "Ahmet Yılmaz", title="Bay", language="tr")

    found = await crm.lookup(presented)

    assert found is not None
    assert (found.phone, found.name, found.title, found.language) == ("+905551112233", "Ahmet Yılmaz", "Bay", "tr")


async def test_strangers_and_anonymous_callers_are_not_customers(crm: SqliteCrm) -> None:
    await crm.add_customer("+905551112233", "Ahmet Yılmaz")
    assert await crm.lookup("+905559999999") is None
    assert await crm.lookup("anonymous") is None


async def test_one_number_belongs_to_one_customer(crm: SqliteCrm) -> None:
    first = await crm.add_customer("+905551112233", "Ahmet Yılmaz")
    with pytest.raises(CrmError, match=f"already belongs to Ahmet Yılmaz \\({first.customer_id}\\)"):
        await crm.add_customer("0555 111 22 33", "Someone Else")
    with pytest.raises(CrmError, match="not a phone number"):
        await crm.add_customer("call me", "Nobody")


async def test_a_call_summary_moves_last_interaction_to_the_local_date(crm: SqliteCrm) -> None:
    added = await crm.add_customer("+905551112233", "Ahmet Yılmaz")
    late_evening_utc = datetime(2023, 11, 19, 22, 30, tzinfo=UTC)  # already the 20th in Istanbul

    await crm.save_call_summary(summary("call-1", late_evening_utc))

    found = await crm.lookup("+905551112233")
    assert found is not None and found.last_interaction == "2023-11-20"
    [stored] = await crm.call_summaries("+905551112233")
    assert (stored.customer_id, stored.summary, stored.intents) == (
        added.customer_id,
        "Booked for Tuesday.",
        ["create_appointment"],
    )


async def test_a_retried_summary_is_stored_once_and_an_old_call_never_moves_the_date_back(crm: SqliteCrm) -> None:
    await crm.add_customer("+905551112233", "Ahmet Yılmaz")
    await crm.save_call_summary(summary("call-new", datetime(2023, 11, 20, 10, tzinfo=UTC)))
    await crm.save_call_summary(summary("call-new", datetime(2023, 11, 20, 10, tzinfo=UTC)))  # retried job
    await crm.save_call_summary(summary("call-old", datetime(2023, 10, 1, 10, tzinfo=UTC)))  # late job

    found = await crm.lookup("+905551112233")
    assert found is not None and found.last_interaction == "2023-11-20"
    assert [s.call_id for s in await crm.call_summaries("+905551112233")] == ["call-new", "call-old"]


async def test_a_strangers_call_summary_is_kept_without_a_customer(crm: SqliteCrm) -> None:
    await crm.save_call_summary(summary("call-1", datetime(2023, 11, 20, 10, tzinfo=UTC), phone="05559999999"))

    [stored] = await crm.call_summaries("+905559999999")
    assert stored.customer_id is None


async def test_customers_are_listed_by_name(crm: SqliteCrm) -> None:
    await crm.add_customer("+905551112233", "Zeynep Kaya")
    await crm.add_customer("+905551112244", "ahmet yılmaz")
    assert [c.name for c in await crm.list_customers()] == ["ahmet yılmaz", "Zeynep Kaya"]


# --- an HTTP CRM ------------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[FakeCrm]:
    fake = await FakeCrm(customers={"+905551112233": AHMET}).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http_crm(server: FakeCrm) -> AsyncIterator[HttpCrm]:
    secret = Settings(crm={"auth_header": SECRET}).crm.auth_header  # a SecretStr, as from the config
    client = HttpCrm(server.url, auth_header=secret, timeout_s=0.3, retries=2, backoff_s=0.01)
    yield client
    await client.aclose()


async def test_http_lookup_finds_the_caller_in_the_seeds_shape(server: FakeCrm, http_crm: HttpCrm) -> None:
    found = await http_crm.lookup("+905551112233")

    assert found is not None
    assert (found.customer_id, found.name, found.last_interaction) == ("12345", "Ahmet Yılmaz", "2023-11-20")
    assert found.phone == "+905551112233" and found.extra == {"vip": True}
    [request] = server.requests
    assert request.query == {"phone": "+905551112233"}  # the "+" survived URL encoding
    assert request.headers["authorization"] == SECRET


async def test_http_404_means_not_a_customer(http_crm: HttpCrm) -> None:
    assert await http_crm.lookup("+905559999999") is None


async def test_http_a_500_is_retried_and_the_second_answer_used(
    server: FakeCrm, http_crm: HttpCrm, logs: list[dict[str, object]]
) -> None:
    server.script = ["500"]

    found = await http_crm.lookup("+905551112233")

    assert found is not None and found.name == "Ahmet Yılmaz"
    assert len(server.requests) == 2
    assert [(e["event"], e.get("status")) for e in logs if e["event"] == "crm_retry"] == [("crm_retry", 500)]


async def test_http_a_crm_that_keeps_failing_ends_in_one_crm_error(server: FakeCrm, http_crm: HttpCrm) -> None:
    server.script = ["500", "500", "500"]

    with pytest.raises(CrmError, match=r"answered 500 .* after 3 attempts"):
        await http_crm.lookup("+905551112233")


async def test_http_a_hanging_crm_times_out_quickly_without_retrying(server: FakeCrm, http_crm: HttpCrm) -> None:
    server.script = ["hang"]
    started = time.monotonic()

    with pytest.raises(CrmError, match=r"did not answer .* within 0\.3 s"):
        await http_crm.lookup("+905551112233")

    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 1


async def test_http_nothing_listening_is_retried_then_reported() -> None:
    client = HttpCrm(f"http://127.0.0.1:{free_port()}", timeout_s=0.3, retries=1, backoff_s=0.01)
    try:
        with pytest.raises(CrmError, match="unreachable"):
            await client.lookup("+905551112233")
    finally:
        await client.aclose()


async def test_http_a_refused_token_says_which_setting_to_fix(server: FakeCrm, http_crm: HttpCrm) -> None:
    server.script = ["401"]
    with pytest.raises(CrmError, match=r"401\): check \[crm\] auth_header"):
        await http_crm.lookup("+905551112233")


async def test_http_the_call_summary_is_posted_with_its_idempotency_key(server: FakeCrm, http_crm: HttpCrm) -> None:
    await http_crm.save_call_summary(summary("call-9", datetime(2023, 11, 20, 10, tzinfo=UTC)))

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/api/calls")
    assert request.headers["idempotency-key"] == "call-9"
    body = request.json()
    assert (body["call_id"], body["outcome"], body["summary"]) == ("call-9", "completed", "Booked for Tuesday.")


async def test_http_the_auth_header_appears_in_no_log_line_and_no_error(
    server: FakeCrm, http_crm: HttpCrm, logs: list[dict[str, object]]
) -> None:
    server.script = ["500", "500", "500", "500", "hang"]
    errors = []
    for _ in range(2):
        try:
            await http_crm.lookup("+905551112233")
        except CrmError as exc:
            errors.append(exc)

    assert len(errors) == 2 and logs
    seen = repr(logs) + " ".join(f"{e!r} {e.__cause__!r}" for e in errors) + repr(http_crm.__dict__)
    assert "s3cr3t" not in seen


async def test_a_password_in_the_crm_url_stays_out_of_errors() -> None:
    client = HttpCrm(f"http://crm:pa55word@127.0.0.1:{free_port()}/api", timeout_s=0.3, retries=0)
    try:
        with pytest.raises(CrmError) as caught:
            await client.lookup("+905551112233")
    finally:
        await client.aclose()
    assert "pa55word" not in str(caught.value) and "127.0.0.1" in str(caught.value)


async def test_a_slow_crm_costs_the_caller_a_personal_greeting_not_the_call(
    server: FakeCrm, logs: list[dict[str, object]]
) -> None:
    server.script = ["hang"]
    slow = HttpCrm(server.url, timeout_s=5.0)
    try:
        assert await lookup_caller(slow, "+905551112233", timeout_s=0.2) is None
    finally:
        await slow.aclose()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["crm_lookup_failed"]


async def test_build_crm_follows_the_crm_section(db: Database, server: FakeCrm) -> None:
    assert isinstance(build_crm(Settings(), db), SqliteCrm)
    http = build_crm(Settings(crm={"kind": "http", "url": server.url}), None)
    try:
        assert isinstance(http, HttpCrm)
    finally:
        await http.aclose()
    with pytest.raises(CrmError, match="needs \\[crm\\] url"):
        build_crm(Settings(crm={"kind": "http"}), None)


# --- sentiric-pbx crm -------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An empty-ish config and a database in tmp_path (the CLI's logging set-up is undone by _structlog_defaults)."""
    config = tmp_path / "config.toml"
    config.write_text('[business]\ndefault_country_code = "90"\n')
    return {"SENTIRIC_CONFIG": str(config), "SENTIRIC_STORAGE__DB_PATH": str(tmp_path / "data" / "sentiric.db")}


def test_cli_an_admin_adds_a_customer_and_lists_them(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        crm_app,
        ["add", "--phone", "0555 111 22 33", "--name", "Ahmet Yılmaz", "--title", "Bay", "--language", "tr"],
        env=cli_env,
    )
    assert added.exit_code == 0, added.output
    assert "+905551112233" in added.stdout

    listed = runner.invoke(crm_app, ["list", "--json"], env=cli_env)

    assert listed.exit_code == 0, listed.output
    [customer] = json.loads(listed.stdout)
    assert {k: customer[k] for k in ("phone", "name", "title", "language")} == {
        "phone": "+905551112233",
        "name": "Ahmet Yılmaz",
        "title": "Bay",
        "language": "tr",
    }
    assert (tmp_path / "data" / "sentiric.db").is_file()


def test_cli_adds_to_the_site_store_when_database_url_names_one(
    cli_env: dict[str, str], tmp_path: Path, postgres_url: str
) -> None:
    """`crm add` on one host, with the password only in the environment: every host's calls now find him."""
    env = cli_env | {"SENTIRIC_STORAGE__DATABASE_URL": postgres_url}
    added = CliRunner().invoke(crm_app, ["add", "--phone", "0555 111 22 33", "--name", "Ahmet Yılmaz"], env=env)
    assert added.exit_code == 0, added.output
    assert not (tmp_path / "data" / "sentiric.db").exists(), "the host's file is not where customers go"

    async def look_up() -> str | None:
        db = await PostgresDatabase.connect(postgres_url)
        try:
            found = await SqliteCrm(db).lookup("+905551112233")
        finally:
            await db.aclose()
        return None if found is None else found.name

    assert asyncio.run(look_up()) == "Ahmet Yılmaz"


def test_cli_a_number_already_taken_is_one_line_and_exit_2(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    runner.invoke(crm_app, ["add", "--phone", "+905551112233", "--name", "Ahmet Yılmaz"], env=cli_env)

    again = runner.invoke(crm_app, ["add", "--phone", "05551112233", "--name", "Someone Else"], env=cli_env)

    assert again.exit_code == 2
    [line] = again.stderr.strip().splitlines()
    assert line.startswith("sentiric-pbx: error: +905551112233 already belongs to Ahmet Yılmaz (")


def test_cli_crm_is_a_subcommand_of_sentiric_pbx(cli_env: dict[str, str]) -> None:
    from sentiric_pbx.cli import app

    result = CliRunner().invoke(app, ["crm", "list"], env=cli_env)

    assert result.exit_code == 0, result.output
    assert "no customers yet" in result.stdout


@pytest.mark.parametrize(
    ("caller_id", "stored"),
    [
        ("+90 555 111 22 33", "+905551112233"),
        ("05551112233", "+905551112233"),
        ("905551112233", "+905551112233"),
        ("5551112233", "+905551112233"),
        ("00905551112233", "+905551112233"),
        ("1001", "1001"),  # a phone on the PBX itself: its extension, not "+901001"
        ("5000", "5000"),
        ("anonymous", None),
        ("", None),
    ],
)
def test_caller_ids_are_normalised_the_same_way_on_every_path(caller_id: str, stored: str | None) -> None:
    assert normalize_e164(caller_id, "90") == stored


async def test_an_internal_extension_can_be_a_customer(crm: SqliteCrm) -> None:
    added = await crm.add_customer("1001", "Front desk")
    assert added.phone == "1001"
    found = await crm.lookup("1001")
    assert found is not None and found.name == "Front desk"
    assert await crm.lookup("+901001") is None
