"""Baseline comparison (pure): results documents built from stored certificates, judged
with and without the policy's expected_changes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dualcert.compare.comparison import compare, expiry_band
from dualcert.compare.results_file import SCHEMA_V1, ResultsFile
from dualcert.compare.snapshot import Snapshot, load_snapshot
from dualcert.errors import UsageError
from dualcert.offers import ClientRange, Offer, TLSVersion, parse_offer
from dualcert.policy.load import load_policy
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.render.results import probe_record

from .conftest import FIXED_NOW, chain_der

# (node, service, offer) -> stored chain name, or an Outcome for a probe without a chain; an offer
# `client-<profile>` is a simulated client's probe (--clients), of version `auto`
Estate = dict[tuple[str, str, str], str | Outcome]


def document(estate: Estate, *, started: dt.datetime = FIXED_NOW, ports: dict[str, int] | None = None,
             roles: dict[str, str] | None = None, versions: tuple[str, ...] = ("tls1.2",)) -> dict[str, object]:
    """A results JSON as version 1 laid it out (what readers read both versions into), one probe per (node,
    service, offer, version)."""
    probes = []
    for (node, service, offer), seen in estate.items():
        probe_offer = parse_offer(offer)
        probe_versions = [TLSVersion(v) for v in versions] if isinstance(probe_offer, Offer) else [ClientRange.AUTO]
        for version in probe_versions:
            key = ProbeKey(node, service, probe_offer, version)
            port = (ports or {}).get(f"{node}:{service}", 8443)
            if isinstance(seen, Outcome):
                observation = Observation(key, f"{node}.example.test", "127.0.0.1", port, seen)
            else:
                observation = Observation(key, f"{node}.example.test", "127.0.0.1", port, Outcome.OK,
                                          chain_der=chain_der(seen))
            probes.append(probe_record(observation, {}))
    offers = {k[2] for k in estate if not k[2].startswith("client-")}
    clients = list(dict.fromkeys(k[2].removeprefix("client-") for k in estate if k[2].startswith("client-")))
    return {"schema": SCHEMA_V1, "run": {"site": "t", "started": started.isoformat(), "written": started.isoformat(),
                                      "offers": sorted(offers), "tls_versions": list(versions), "clients": clients,
                                      "roles": roles or {}},
            "probes": probes}


def snap(estate: Estate, name: str = "run.json", **kwargs: object) -> Snapshot:
    return Snapshot.from_results(document(estate, **kwargs), name)  # type: ignore[arg-type]


def policy_file(tmp_path: Path, text: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)


S4 = {("pub", "tomcat", "ecdsa"): "ec_self", ("pub", "tomcat", "rsa"): "rsa_by_rsa_ca",
      ("pub", "socketio", "default"): "ec_self", ("pub", "tomcat", "default"): "rsa_by_rsa_ca"}
S3 = {**S4, ("pub", "tomcat", "ecdsa"): "ec_by_ec_ca", ("pub", "socketio", "default"): "ec_by_ec_ca"}


def test_identical_runs_have_no_entries() -> None:
    comparison = compare(snap(S4, "a.json"), snap(S4, "b.json"))
    assert comparison.entries == [] and comparison.counts()["unchanged"] == 4
    assert comparison.section() == {"baseline": {"path": "a.json", "written": FIXED_NOW.isoformat(), "site": "t"},
                                    "not_compared": {"offers": [], "tls_versions": [], "clients": []}, "entries": []}


def test_new_ecdsa_certificate_is_a_change_with_before_and_after() -> None:
    comparison = compare(snap(S4), snap(S3))
    assert [c.id for c in comparison.entries] == ["pub:socketio:default:tls1.2", "pub:tomcat:ecdsa:tls1.2"]
    change = comparison.by_id["pub:tomcat:ecdsa:tls1.2"]
    assert change.kind == "changed" and not change.expected
    assert set(change.fields) == {"leaf_sha256", "issuer", "self_signed", "days_left"}
    assert change.fields["self_signed"] == (True, False)
    assert "no expected_changes" in change.reason and "ECDSA self-signed -> ECDSA CA-signed" in change.reason
    entry = comparison.section()["entries"][1]
    assert set(entry) == {"id", "kind", "fields", "expected", "reason"}
    assert entry["fields"]["self_signed"] == [True, False]
    json.dumps(comparison.section())  # JSON-ready as it goes into the results file


def test_days_left_alone_is_a_change_only_across_a_policy_threshold(tmp_path: Path) -> None:
    expiring = {("pub", "tomcat", "ecdsa"): "ec_expiring"}  # leaf expires 2027-01-20
    month_apart = compare(snap(expiring, started=FIXED_NOW - dt.timedelta(days=100)),
                          snap(expiring, started=FIXED_NOW - dt.timedelta(days=70)))
    assert month_apart.entries == []  # 119 -> 89 days: still outside the 30-day warn window
    crossed = compare(snap(expiring, started=FIXED_NOW - dt.timedelta(days=30)), snap(expiring, started=FIXED_NOW))
    (change,) = crossed.entries
    assert change.fields == {"expiry": ("ok", "warn"), "days_left": (49, 19)}
    short_window = policy_file(tmp_path, "rules: {expiry: {warn_days: 10, fail_days: 5}}\n")
    assert compare(crossed.baseline, crossed.current, short_window).entries == []  # 49 -> 19: ok under 10 days


def test_expiry_bands_match_the_expiry_rule() -> None:
    assert [expiry_band(d, 30, 7) for d in (-1, 0, 6, 7, 29, 30)] == ["expired", "fail", "fail", "warn", "warn", "ok"]
    assert expiry_band(None, 30, 7) is None


def test_expected_change_from_self_signed_to_ec_ca_signed(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, "expected_changes:\n"
                                   "  - {role: uccx, offers: [ecdsa, default], from: self-signed, to: ec-ca-signed,\n"
                                   "     reason: admin signed tomcat-ECDSA}\n")
    comparison = compare(snap(S4), snap(S3, roles={"pub": "uccx"}), policy)
    assert len(comparison.entries) == 2 and comparison.unexpected == []
    assert all("expected_changes[0]" in c.reason and "policy.yaml:2" in c.reason and "admin signed" in c.reason
               for c in comparison.entries)
    other_role = compare(snap(S4), snap(S3, roles={"pub": "socialminer"}), policy)
    assert len(other_role.unexpected) == 2  # role: uccx does not select a SocialMiner node


def test_ecdsa_signed_by_rsa_is_not_ec_ca_signed(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, "expected_changes:\n  - {offers: [ecdsa], to: ec-ca-signed}\n")
    s2 = {**S4, ("pub", "tomcat", "ecdsa"): "ec_by_rsa_ca"}
    (change,) = [c for c in compare(snap(S4), snap(s2), policy).entries if c.key[2] == "ecdsa"]
    assert not change.expected  # CSCvb58580: an ECDSA leaf under an RSA CA
    by_rsa = policy_file(tmp_path, "expected_changes:\n  - {offers: [ecdsa], to: ecdsa-by-rsa-ca}\n")
    assert compare(snap(S4), snap(s2), by_rsa).by_id["pub:tomcat:ecdsa:tls1.2"].expected


def test_refused_offer_and_any_change_on_a_node(tmp_path: Path) -> None:
    before = {("pub", "socketio", "ecdsa"): "ec_self", ("sub", "tomcat", "rsa"): "rsa_self"}
    after = {("pub", "socketio", "ecdsa"): Outcome.REFUSED, ("sub", "tomcat", "rsa"): "rsa_by_rsa_ca"}
    policy = policy_file(tmp_path, "expected_changes:\n"
                                   "  - {offers: [ecdsa], services: [socketio], to: refused}\n"
                                   "  - {nodes: [sub], any: true}\n")
    comparison = compare(snap(before), snap(after), policy)
    refused = comparison.by_id["pub:socketio:ecdsa:tls1.2"]
    assert refused.fields["outcome"] == ("ok", "refused") and refused.expected
    assert "expected_changes[1]" in comparison.by_id["sub:tomcat:rsa:tls1.2"].reason
    assert comparison.unexpected == []
    assert not compare(snap(before), snap(after)).by_id["pub:socketio:ecdsa:tls1.2"].expected


def test_other_inventory_renamed_node_removed_service_changed_port() -> None:
    before = {("uccx-pub", "tomcat", "ecdsa"): "ec_self", ("uccx-pub", "socketio", "ecdsa"): "ec_self",
              ("uccx-sub", "tomcat", "ecdsa"): "ec_self"}
    after = {("uccx-pub", "tomcat", "ecdsa"): "ec_self", ("uccx-sub2", "tomcat", "ecdsa"): "ec_self"}
    comparison = compare(snap(before, "old.json"), snap(after, "new.json", ports={"uccx-pub:tomcat": 9443}))
    kinds = {c.id: c.kind for c in comparison.entries}
    assert kinds == {"uccx-pub:tomcat:ecdsa:tls1.2": "changed", "uccx-pub:socketio:ecdsa:tls1.2": "gone",
                     "uccx-sub:tomcat:ecdsa:tls1.2": "gone", "uccx-sub2:tomcat:ecdsa:tls1.2": "new"}
    moved = comparison.by_id["uccx-pub:tomcat:ecdsa:tls1.2"].fields
    assert moved == {"port": (8443, 9443), "days_left": (moved["days_left"][0],) * 2}  # days left: context only
    gone = comparison.by_id["uccx-sub:tomcat:ecdsa:tls1.2"]
    assert gone.fields["outcome"] == ("ok", None) and gone.text().endswith("gone since the baseline (was ECDSA "
                                                                            "self-signed)")
    assert comparison.summary().startswith("compared 4 probes with baseline old.json (site t, written ")
    assert "1 changed, 1 new, 2 gone, 0 unchanged; 0 expected, 4 unexpected" in comparison.summary()


def test_new_and_gone_can_be_expected(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, "expected_changes:\n  - {nodes: [new], from: absent}\n"
                                   "  - {nodes: '*', to: absent, reason: decommissioned}\n")
    comparison = compare(snap({("old", "tomcat", "rsa"): "rsa_self"}), snap({("new", "tomcat", "rsa"): "rsa_self"}),
                         policy)
    assert [(c.kind, c.expected) for c in comparison.entries] == [("new", True), ("gone", True)]


def test_only_offers_and_versions_both_runs_probed_are_compared() -> None:
    old = snap({("pub", "tomcat", "rsa"): "rsa_self"}, versions=("tls1.2",))
    new = snap({("pub", "tomcat", "rsa"): "rsa_self", ("pub", "tomcat", "ecdsa"): "ec_self"},
               versions=("tls1.2", "tls1.3"))
    comparison = compare(old, new)
    assert [c.id for c in comparison.changes] == ["pub:tomcat:rsa:tls1.2"] and comparison.entries == []
    assert "not compared, probed by one run only: ecdsa, tls1.3" in comparison.summary()


def test_interrupted_baseline_is_named_in_the_summary() -> None:
    data = document({("pub", "tomcat", "rsa"): "rsa_self"})
    data["run"]["status"] = "interrupted"  # type: ignore[index]
    comparison = compare(Snapshot.from_results(data, "cut.json"), snap({("pub", "tomcat", "rsa"): "rsa_self",
                                                                       ("pub", "tomcat", "ecdsa"): "ec_self"}))
    assert "the baseline run was interrupted: what it did not probe shows as new" in comparison.summary()


def test_ids_restrict_and_order_the_comparison() -> None:
    comparison = compare(snap(S4), snap(S3), ids=["pub:tomcat:ecdsa:tls1.2", "pub:tomcat:rsa:tls1.2"])
    assert [c.id for c in comparison.changes] == ["pub:tomcat:ecdsa:tls1.2", "pub:tomcat:rsa:tls1.2"]


def test_unreachable_endpoint_is_an_outcome_change(tmp_path: Path) -> None:
    after = {**S4, ("pub", "tomcat", "rsa"): Outcome.TIMEOUT}
    policy = policy_file(tmp_path, "expected_changes:\n  - {from: rsa, to: unreachable}\n")
    change = compare(snap(S4), snap(after), policy).by_id["pub:tomcat:rsa:tls1.2"]
    assert change.fields == {"outcome": ("ok", "timeout"), "leaf_sha256": (change.before.leaf_sha256, None),  # type: ignore[union-attr]
                             "key": ("rsa", None), "issuer": (change.before.issuer, None),  # type: ignore[union-attr]
                             "self_signed": (False, None), "days_left": (change.fields["days_left"][0], None)}
    assert change.expected


@pytest.mark.parametrize(("content", "message"), [
    (None, "baseline file not found"),
    ("{not json", "the baseline is not JSON"),
    ('{"schema": "dualcert-results/1", "run": {}, "probes": [], "tests": [', "the baseline is not JSON"),
    ('{"schema": "dualcert-results/1", "run": {}, "probes": [}, "tests": []}', "the baseline is not JSON"),
    ('{"schema": "something-else"}', "is not a dualcert results file"),
    ('{"schema": "dualcert-results/1", "probes": [{"node": "a"}]}', "the baseline's probes are incomplete"),
])
def test_bad_baseline_files_are_usage_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as caught:
        load_snapshot(path)
    assert message in str(caught.value) and str(path) in str(caught.value) and caught.value.fix


def test_diff_takes_roles_from_an_inventory_for_old_results(tmp_path: Path) -> None:
    """Results written before roles were recorded: `--inventory` supplies them for `role:` selectors."""
    from .conftest import run_cli

    for name, estate in (("old.json", S4), ("new.json", S3)):
        (tmp_path / name).write_text(json.dumps(document(estate)))
    (tmp_path / "policy.yaml").write_text("expected_changes:\n  - {role: uccx, from: self-signed, to: ec-ca-signed}\n")
    (tmp_path / "site.yaml").write_text("nodes:\n  - {name: pub, host: pub.example.test, address: 127.0.0.1, "
                                        "role: uccx}\n")
    without = run_cli("diff", "old.json", "new.json", "--policy", "policy.yaml", "--unexpected-only", cwd=tmp_path)
    assert without.returncode == 1 and "pub:tomcat:ecdsa:tls1.2" in without.stdout
    with_roles = run_cli("diff", "old.json", "new.json", "--policy", "policy.yaml", "--inventory", "site.yaml",
                         "--unexpected-only", cwd=tmp_path)
    assert with_roles.returncode == 0, with_roles.stdout + with_roles.stderr
    assert "no unexpected differences" in with_roles.stdout and "2 expected, 0 unexpected" in with_roles.stdout


def test_diff_output_escapes_what_certificates_say() -> None:
    from dualcert.render.diff import render

    hostile = document(S3)
    for probe in hostile["probes"]:  # type: ignore[attr-defined]
        if probe["chain"]:
            probe["chain"][0]["issuer"] = "CN=evil | <script>x</script> \x1b[2J`rm`"
    comparison = compare(snap(S4), Snapshot.from_results(hostile, "new.json"))
    text = render(comparison, "text")
    assert "\x1b" not in text and "\\x1b[2J" in text
    markdown = render(comparison, "markdown")
    assert "<script>" not in markdown and "\x1b" not in markdown
    assert r"CN=evil \| &lt;script&gt;x&lt;/script&gt; \\x1b[2J\`rm\`" in markdown
    row = next(line for line in markdown.splitlines() if "| issuer |" in line)
    assert row.count(" | ") == 6  # seven cells: the issuer's pipe did not add a column
    as_json = json.loads(render(comparison, "json"))
    assert as_json["entries"][0]["fields"]["issuer"][1].startswith("CN=evil | <script>")  # JSON keeps the raw value


def test_a_results_file_is_read_a_record_at_a_time(tmp_path: Path) -> None:
    """The small members before the first record list are the head; the others are read when asked, whatever
    their order; records come one at a time, strings whole; a broken record anywhere refuses the file."""
    probes = [{"node": "n", "service": "s", "offer": "rsa", "tls_version": "tls1.2", "x": "é \"}, ] \\"}]
    members = {"schema": SCHEMA_V1, "run": {"site": "x", "list": [1, {"a": "}"}]}, "summary": {"tests": 1}}
    path = tmp_path / "r.json"
    for text in (json.dumps({**members, "probes": probes, "tests": [{"m": '"probes": []'}], "warnings": [1]}),
                 json.dumps({**members, "probes": probes, "warnings": [1], "tests": []}, indent=2) + "\n",
                 json.dumps({"tests": [], "warnings": [1], **members, "probes": probes})):   # another order
        path.write_text(text)
        results = ResultsFile(path)
        assert list(results.probes()) == probes and results.section("warnings") == [1]
        assert {k: results.head[k] for k in members} == members
    path.write_text(json.dumps(members)[:-1] + ', "probes": [], "tests": [{"broken": tru}]}')
    with pytest.raises(UsageError, match="the baseline is not JSON"):
        load_snapshot(path)


# --- simulated clients (--clients): compared like the offers when both runs probed the profile --------------

CHROME = "pub:socketio:client-chrome:auto"


def test_client_probes_are_compared_and_a_profile_of_one_run_is_named_not_compared() -> None:
    before = {**S4, ("pub", "socketio", "client-chrome"): "ec_self", ("pub", "tomcat", "client-java8"): "rsa_self"}
    after = {**S3, ("pub", "socketio", "client-chrome"): "ec_by_ec_ca",
             ("pub", "tomcat", "client-firefox"): "rsa_by_rsa_ca", ("pub", "socketio", "client-firefox"): "ec_self"}
    comparison = compare(snap(before, "old.json"), snap(after, "new.json"))
    assert comparison.clients == ("chrome",)
    assert [c.id for c in comparison.changes if "client-" in c.id] == [CHROME]
    chrome = comparison.by_id[CHROME]
    assert chrome.kind == "changed" and not chrome.expected and chrome.fields["self_signed"] == (True, False)
    assert comparison.not_compared["clients"] == [{"profile": "java8", "only_in": "old", "probes": 1},
                                                  {"profile": "firefox", "only_in": "new", "probes": 2}]
    summary = comparison.summary()
    assert "compared 5 probes" in summary and "(1 of them simulated clients' probes: chrome)" in summary
    assert ("not compared, client profiles probed by one run only (--clients differed): java8 (1 probe(s), "
            "old.json only), firefox (2 probe(s), new.json only)") in summary
    assert comparison.section()["not_compared"]["clients"] == comparison.not_compared["clients"]


def test_a_client_getting_what_an_offer_was_expected_to_get_is_expected(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, "expected_changes:\n"
                                   "  - {offers: [ecdsa, default], from: self-signed, to: ec-ca-signed}\n")
    before = {**S4, ("pub", "socketio", "client-chrome"): "ec_self",
              ("pub", "tomcat", "client-chrome"): "rsa_by_rsa_ca"}   # Tomcat gave Chrome its RSA leaf
    after = {**S3, ("pub", "socketio", "client-chrome"): "ec_by_ec_ca",
             ("pub", "tomcat", "client-chrome"): "ec_by_ec_ca"}      # ... and now its ECDSA one
    comparison = compare(snap(before), snap(after), policy)
    chrome = comparison.by_id[CHROME]
    assert chrome.expected and chrome.reason.startswith("the same change as pub:socketio:default:tls1.2, expected by "
                                                        "expected_changes[0]")
    # Tomcat now preferring ECDSA for Chrome is no offer's change: the policy did not declare it.
    assert not comparison.by_id["pub:tomcat:client-chrome:auto"].expected
    assert [c.id for c in comparison.unexpected] == ["pub:tomcat:client-chrome:auto"]
    # The offer's change is found even when the client's test is the only one selected.
    assert compare(snap(before), snap(after), policy, ids=[CHROME]).by_id[CHROME].expected
    assert not compare(snap(before), snap(after)).by_id[CHROME].expected


def test_a_client_left_refused_is_its_own_change_an_unreachable_endpoint_is_not(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, "expected_changes:\n  - {offers: [ecdsa, rsa], to: [refused, unreachable]}\n")
    before = {("pub", "socketio", "ecdsa"): "ec_self", ("pub", "socketio", "rsa"): "rsa_self",
              ("pub", "socketio", "client-java8"): "ec_self",
              ("pub", "tomcat", "ecdsa"): "ec_self", ("pub", "tomcat", "client-java8"): "ec_self"}
    after = {**before, ("pub", "socketio", "ecdsa"): Outcome.REFUSED,
             ("pub", "socketio", "client-java8"): Outcome.REFUSED,
             ("pub", "tomcat", "ecdsa"): Outcome.TIMEOUT, ("pub", "tomcat", "client-java8"): Outcome.TIMEOUT}
    comparison = compare(snap(before), snap(after), policy)
    refused = comparison.by_id["pub:socketio:client-java8:auto"]
    assert refused.fields["outcome"] == ("ok", "refused") and not refused.expected  # java8 no longer connects
    unreachable = comparison.by_id["pub:tomcat:client-java8:auto"]
    assert unreachable.expected and "the same change as pub:tomcat:ecdsa:tls1.2" in unreachable.reason


def test_results_without_a_clients_list_name_their_clients_by_their_probes() -> None:
    data = document({("pub", "tomcat", "rsa"): "rsa_self", ("pub", "tomcat", "client-openssl3"): "rsa_self"})
    for name in ("clients", "offers", "tls_versions"):
        del data["run"][name]  # type: ignore[attr-defined]
    old = Snapshot.from_results(data, "old.json")
    assert (old.clients, old.offers, old.versions) == (("openssl3",), ("rsa",), ("tls1.2",))
    assert compare(old, old).clients == ("openssl3",)
