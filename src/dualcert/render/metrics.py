"""`--metrics FILE`: the run in the Prometheus text exposition format, for node_exporter's textfile collector.

The collector parses each `*.prom` file with the text format's parser (prometheus/common expfmt) and
skips a whole file on any error: a second HELP or TYPE line for a name, a sample with a timestamp. So
each family is written once, its samples together, one sample per label set, no timestamps. The file
is valid OpenMetrics 1.0 too: `# UNIT` for the metrics in seconds and a closing `# EOF`, lines the
text format reads as comments (both parsers read it in tests/test_metrics_textfile.py).

Every certificate a service presents, not only the earliest (a dual-certificate server has two, and
the ECDSA one is the one nobody watches): per (node, service, key family) the leaf's notAfter and days
left, with issuer and self-signed as labels; per rule the tests by status; per outcome the probes; the
run's start, duration and exit status; and when the site was last compliant, carried over from the
previous file so that a failing run does not forget it. All gauges (a run is a snapshot, not a
counter). Pure: results records in, text out; the caller writes it atomically.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from dualcert.compare.coverage import not_checked
from dualcert.safetext import safe

PREFIX = "dualcert_"
LAST_COMPLIANT = f"{PREFIX}last_compliant_run_timestamp_seconds"


class Family(NamedTuple):
    help: str       # constant: node_exporter rejects one name with two help texts across its files
    unit: str = ""  # OpenMetrics' `# UNIT`, whose name must end in `_<unit>`; days are no base unit


FAMILIES: dict[str, Family] = {   # all gauges, written in this order
    f"{PREFIX}certificate_not_after_timestamp_seconds":
        Family("When the leaf a service presents for a key family expires, as a Unix time.", "seconds"),
    f"{PREFIX}certificate_days_left": Family("Days until that leaf expires, at the run's start."),
    f"{PREFIX}rule_tests": Family("Tests of each rule in the last run, by status (pass, warn, fail, n/a)."),
    f"{PREFIX}probes": Family("Probes (node x service x offer x TLS version) in the last run, by outcome."),
    f"{PREFIX}run_start_timestamp_seconds": Family("When the last run started, as a Unix time.", "seconds"),
    f"{PREFIX}run_duration_seconds": Family("How long the last run took.", "seconds"),
    f"{PREFIX}run_exit_status": Family("The last run's exit code: 0 compliant, 1 policy failures, 2 interrupted, "
                                       "3 internal error, 4 usage error, 5 nothing checked."),
    LAST_COMPLIANT: Family("When a run last ended compliant (exit code 0), as a Unix time.", "seconds"),
    f"{PREFIX}nodes": Family("Nodes of the inventory by coverage: checked by the run, or not_checked by any run of "
                             "a merge (dualcert merge --allow-partial)."),
    f"{PREFIX}node_not_checked": Family("1 for each node no run of a merge checked (a site that stopped reporting)."),
}
_FAMILY_OF_KEY = {"RSA": "rsa", "ECDSA": "ecdsa"}


def escape_label(value: object) -> str:
    """A label value as the text format wants it; certificate text is made printable first (safetext)."""
    return safe(str(value)).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: Mapping[str, object], value: float) -> str:
    body = ",".join(f'{key}="{escape_label(v)}"' for key, v in labels.items())
    number = repr(float(value)) if not float(value).is_integer() else str(int(value))
    return f"{name}{{{body}}} {number}"


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def previous_last_compliant(previous: str | None, site: str) -> float | None:
    """The last compliant run's time from the previous metrics file, for this site."""
    if not previous:
        return None
    pattern = re.compile(rf'^{LAST_COMPLIANT}\{{site="{re.escape(escape_label(site))}"\}} (\S+)$', re.M)
    found = pattern.search(previous)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def certificate_samples(probes: Iterable[Mapping[str, Any]], site: str,
                        started: float) -> tuple[list[str], list[str]]:
    """(not_after samples, days_left samples): one per (node, service, key family), the soonest-expiring
    leaf when the offers and TLS versions of one family got different leaves."""
    leaves: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for probe in probes:
        chain = probe.get("chain") or []
        family = _FAMILY_OF_KEY.get(str(chain[0].get("key_type"))) if chain else None
        if family is None or _timestamp(chain[0].get("not_after")) is None:
            continue
        key = (str(probe["node"]), str(probe["service"]), family)
        seen = leaves.get(key)
        if seen is None or str(chain[0]["not_after"]) < str(seen["not_after"]):
            leaves[key] = chain[0]
    not_after, days = [], []
    for (node, service, family), leaf in leaves.items():
        ends = _timestamp(leaf["not_after"]) or 0.0
        labels = {"site": site, "node": node, "service": service, "family": family,
                  "issuer": leaf.get("issuer") or "", "self_signed": str(bool(leaf.get("self_signed"))).lower(),
                  "sha256": leaf.get("sha256") or ""}
        not_after.append(_sample(f"{PREFIX}certificate_not_after_timestamp_seconds", labels, ends))
        days.append(_sample(f"{PREFIX}certificate_days_left", labels, round((ends - started) / 86400, 2)))
    return not_after, days


def coverage_samples(run: Mapping[str, Any], site: str) -> tuple[list[str], list[str]]:
    """(nodes by coverage, one sample per node not checked) from run.coverage; none from files without it."""
    if not run.get("coverage"):
        return [], []
    unchecked, estate = not_checked(run)
    counts = [_sample(f"{PREFIX}nodes", {"site": site, "coverage": state}, len(nodes))
              for state, nodes in (("checked", run["coverage"].get("nodes") or []), ("not_checked", unchecked))]
    missing = [_sample(f"{PREFIX}node_not_checked",
                       {"site": site, "node": node, "cluster": (estate.get(node) or {}).get("cluster") or ""}, 1)
               for node in unchecked]
    return counts, missing


def metrics_text(document: Mapping[str, Any], previous: str | None = None,
                 rule_counts: Mapping[tuple[str, str], int] | None = None) -> str:
    """The exposition for one results document (`run`, `probes`, `tests`); `previous` is the last
    file's text, from which the last compliant run's time is carried when this run is not compliant.
    `rule_counts`, the tests by (rule, status), when the caller has them (a run's records: counted
    as they were written), instead of counting `tests` again."""
    run = document["run"]
    site = str(run.get("site", ""))
    started = _timestamp(run.get("started")) or 0.0
    written = _timestamp(run.get("written")) or started
    exit_status = int(run.get("exit_status", 3))
    samples: dict[str, list[str]] = {name: [] for name in FAMILIES}
    by_outcome: dict[str, int] = {}

    def counted(probes: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """The probes, counted by outcome as they pass: they are read once (a stream, at scale)."""
        for probe in probes:
            by_outcome[str(probe.get("outcome"))] = by_outcome.get(str(probe.get("outcome")), 0) + 1
            yield probe

    not_after, days = certificate_samples(counted(document.get("probes", [])), site, started)
    samples[f"{PREFIX}certificate_not_after_timestamp_seconds"] = not_after
    samples[f"{PREFIX}certificate_days_left"] = days
    by_rule: dict[tuple[str, str], int] = dict(rule_counts or {})
    for test in document.get("tests", []) if rule_counts is None else ():
        key = (str(test.get("rule") or test.get("test")), str(test.get("status") or test.get("outcome")))
        by_rule[key] = by_rule.get(key, 0) + 1
    samples[f"{PREFIX}rule_tests"] = [_sample(f"{PREFIX}rule_tests", {"site": site, "rule": r, "status": s}, n)
                                      for (r, s), n in sorted(by_rule.items())]
    samples[f"{PREFIX}probes"] = [_sample(f"{PREFIX}probes", {"site": site, "outcome": o}, n)
                                  for o, n in sorted(by_outcome.items())]
    one = {"site": site}
    samples[f"{PREFIX}run_start_timestamp_seconds"] = [_sample(f"{PREFIX}run_start_timestamp_seconds", one, started)]
    samples[f"{PREFIX}run_duration_seconds"] = [_sample(f"{PREFIX}run_duration_seconds", one,
                                                       round(max(0.0, written - started), 3))]
    samples[f"{PREFIX}run_exit_status"] = [_sample(f"{PREFIX}run_exit_status", one, exit_status)]
    compliant = written if exit_status == 0 and run.get("status") == "complete" else \
        previous_last_compliant(previous, site)
    if compliant is not None:
        samples[LAST_COMPLIANT] = [_sample(LAST_COMPLIANT, one, compliant)]
    samples[f"{PREFIX}nodes"], samples[f"{PREFIX}node_not_checked"] = coverage_samples(run, site)
    lines: list[str] = []
    for name, family in FAMILIES.items():
        if samples[name]:
            lines += [f"# HELP {name} {family.help}", f"# TYPE {name} gauge",
                      *[f"# UNIT {name} {family.unit}"] * bool(family.unit), *samples[name]]
    return "\n".join([*lines, "# EOF"]) + "\n"
