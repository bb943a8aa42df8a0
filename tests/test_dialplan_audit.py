"""`dialplan_audit`: which dialplan steps send calls to us, and the verdict an admin reads.

The steps are `ListDialplan` events in the shape Asterisk 22.10.1 sends them (`ShowDialPlan` on the
project's dialplan); tests/pbx/test_dialplan_audit.py reads them from a real Asterisk.
"""

from __future__ import annotations

from sentiric_pbx.telephony.asterisk.dialplan_audit import Target, audit, targets

HERE = {"audiosocket": ("127.0.0.1", 9092), "fastagi": ("127.0.0.1", 4573)}


def step(exten: str, priority: int, app: str, data: str, context: str = "sentiric") -> dict[str, str]:
    return {
        "Event": "ListDialplan",
        "Context": context,
        "Extension": exten,
        "Priority": str(priority),
        "Application": app,
        "AppData": data,
        "Registrar": "pbx_config",
    }


PROJECT = [
    step("100", 1, "NoOp", "sentiric-pbx 100 (AudioSocket app, 8 kHz): ${CALLERID(all)}"),
    step("100", 4, "AGI", "agi://127.0.0.1:4573/register,${UUID},app,${SHA1(${DB(sentiric/agi_secret)}${UUID})}"),
    step("100", 6, "AudioSocket", "${UUID},127.0.0.1:9092"),
    step("101", 5, "Dial", "AudioSocket/127.0.0.1:9092/${UUID}/c(slin16)"),
    step("s", 3, "AudioSocket", "${SENTIRIC_SELFTEST_UUID},${SENTIRIC_SELFTEST_ADDR}", "sentiric-selftest"),
    step("transfer", 1, "Dial", "${SENTIRIC_TRANSFER},30"),
]


def test_the_steps_that_connect_out_are_found_with_where_they_are() -> None:
    assert targets(PROJECT) == [
        Target("fastagi", "100@sentiric:4", "127.0.0.1:4573"),
        Target("audiosocket", "100@sentiric:6", "127.0.0.1:9092"),
        Target("audiosocket", "101@sentiric:5", "127.0.0.1:9092"),
        Target("audiosocket", "s@sentiric-selftest:3", "${SENTIRIC_SELFTEST_ADDR}"),
    ]


def test_an_agi_step_without_a_port_means_4573_and_other_agi_scripts_are_not_ours() -> None:
    found = targets([step("1", 1, "AGI", "agi://10.0.0.5/register,${UUID},app"), step("2", 1, "AGI", "agi://10.0.0.5/cdr")])
    assert found == [Target("fastagi", "1@sentiric:1", "10.0.0.5:4573")]


def test_the_projects_dialplan_reaches_the_daemon() -> None:
    found = audit(PROJECT, HERE)
    assert found.status == "ok"
    assert "2 AudioSocket step(s) reach 127.0.0.1:9092 (100@sentiric:6 → 127.0.0.1:9092" in found.detail
    assert "1 FastAGI register step(s) reach 127.0.0.1:4573" in found.detail


def test_a_daemon_on_another_port_is_told_which_extensions_point_elsewhere() -> None:
    found = audit(PROJECT, {**HERE, "audiosocket": ("127.0.0.1", 9093)})
    assert found.status == "fail"
    assert found.detail.startswith("no AudioSocket step reaches the daemon at 127.0.0.1:9093: 100@sentiric:6 → ")
    assert "101@sentiric:5 → 127.0.0.1:9092" in found.detail
    assert "[audiosocket] host/port" in found.hint


def test_a_wrong_fastagi_port_fails_too() -> None:
    found = audit(PROJECT, {**HERE, "fastagi": ("127.0.0.1", 4574)})
    assert found.status == "fail" and "no FastAGI register step reaches the daemon at 127.0.0.1:4574" in found.detail
    assert "[fastagi] host/port" in found.hint


def test_one_step_to_us_is_enough_when_others_go_to_another_audiosocket_server() -> None:
    other = step("200", 1, "AudioSocket", "${UUID},127.0.0.1:9500", "other-app")
    found = audit([*PROJECT, other], HERE)
    assert found.status == "ok" and "; 1 go elsewhere" in found.detail


def test_listening_on_every_address_or_on_localhost_is_reached() -> None:
    lan = [step("100", 1, "AudioSocket", "${UUID},10.1.2.3:9092")]
    assert audit(lan, {**HERE, "audiosocket": ("0.0.0.0", 9092)}).status == "ok"
    assert audit(lan, HERE).status == "fail"  # the daemon listens on loopback only: 10.1.2.3 never reaches it
    named = [step("100", 1, "AudioSocket", "${UUID},localhost:9092")]
    assert audit(named, HERE).status == "ok"


def test_no_audiosocket_step_at_all_is_a_warning_with_what_to_include() -> None:
    found = audit([step("100", 1, "Echo", "")], HERE)
    assert found.status == "warn" and "no AudioSocket step in Asterisk's dialplan" in found.detail
    assert "asterisk/extensions.conf" in found.hint
    assert "FastAGI" not in found.detail  # AMI gives the metadata without FastAGI: its absence is no problem


def test_an_address_built_from_variables_is_not_judged() -> None:
    only_variables = [s for s in PROJECT if s["Context"] == "sentiric-selftest"]
    found = audit(only_variables, HERE)
    assert found.status == "warn" and "take their address from variables" in found.detail


STASIS = step("200", 2, "Stasis", "sentiric")


def test_with_ari_on_the_stasis_step_must_name_the_daemons_app() -> None:
    found = audit([*PROJECT, STASIS], HERE, stasis_app="sentiric")
    assert found.status == "ok" and "1 Stasis(sentiric) step(s) (200@sentiric:2)" in found.detail
    assert "Stasis" not in audit([*PROJECT, STASIS], HERE).detail  # ARI off: not judged


def test_a_stasis_step_for_another_app_fails_and_names_where_it_is() -> None:
    found = audit([*PROJECT, STASIS], HERE, stasis_app="clinic")
    assert found.status == "fail"
    assert "no Stasis step names the daemon's ARI app 'clinic': 200@sentiric:2 → Stasis(sentiric)" in found.detail
    assert "[ari] app = 'clinic'" in found.hint


def test_no_stasis_step_with_ari_on_is_a_warning_since_originated_calls_still_reach_the_app() -> None:
    found = audit(PROJECT, HERE, stasis_app="sentiric")
    assert found.status == "warn" and "no Stasis(sentiric) step in Asterisk's dialplan" in found.detail
    assert "extension 200" in found.hint
    assert "2 AudioSocket step(s) reach" in found.detail  # the other findings are still said
