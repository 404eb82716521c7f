"""Every fix and diagnosis text, rendered for every role of the catalog and every cause (issue 23, section 1):
no doubled word or article, no article that does not fit its word, and no Cisco VOS vocabulary (OS
Administration, COPs, -trust stores, Finesse, agents) on a server that is not a VOS appliance.

The functions of rules/remedies.py are found by introspection, so a new fix is covered as soon as it is
written: its parameters must be ones this table knows how to fill."""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from dualcert.estate.catalog import ServiceSpec, load_catalog
from dualcert.estate.model import Endpoint
from dualcert.estate.vocabulary import GENERIC, Vocabulary
from dualcert.policy.states import STATES
from dualcert.rules import remedies
from dualcert.rules.diagnosis import CLIENT_EXPERIENCE, experience_of

ROLES = load_catalog()
READINGS_RSA = (None, "self", "ca", "refused", "wrong-family", "unknown")
READINGS_ECDSA = (None, "self", "ec-ca", "rsa-ca", "refused", "wrong-family", "unknown")
VOS_WORDS = re.compile(r"OS Administration|\bCOPs?\b|-trust\b|Finesse|Live Data|\bagents?\b|CSCvb58580|appliance"
                       r"|\btomcat|CallManager|gadget", re.IGNORECASE)
DOUBLED = re.compile(r"\b(\w[\w'-]*)\s+\1\b", re.IGNORECASE)
TWO_ARTICLES = re.compile(r"\b(a|an|the)\s+(a|an|the)\b", re.IGNORECASE)
A_BEFORE_VOWEL = re.compile(r"\ba\s+([aeiou][\w-]*)", re.IGNORECASE)
AN_BEFORE_CONSONANT = re.compile(r"\ban\s+([^\W\d_aeiou][\w-]*)", re.IGNORECASE)
SPOKEN_VOWEL_INITIALS = set("AEFHILMNORSX")   # an RSA, an EC CA, an MRA, an SNI, an HTTP...


def endpoints(role: str) -> Iterator[Endpoint]:
    spec = ROLES[role]
    services = list(spec.services.values()) or [ServiceSpec("https", 443, rsa_unit=spec.units[0],
                                                             ecdsa_unit=spec.units[1])]
    seen = set()
    for service in services:
        if (service.rsa_unit, service.ecdsa_unit) in seen:
            continue
        seen.add((service.rsa_unit, service.ecdsa_unit))
        yield Endpoint("node1", "cluster", role, "node1.example.test", None, service, vocabulary=spec.vocabulary)


def arguments(endpoint: Endpoint) -> dict[str, tuple[Any, ...]]:
    words = endpoint.vocabulary
    units = (words.unit(endpoint.service.rsa_unit or "RSA certificate"),
             words.unit(endpoint.service.ecdsa_unit or "ECDSA certificate"))
    return {
        "endpoint": (endpoint,), "family": ("RSA", "ECDSA"), "names": (["Example CA"],),
        "leaf": (True, False), "version": ("TLS 1.3",), "client": ("Chrome 137",), "wanted": ("ecdsa", "rsa"),
        "interactive": (True, False), "curve": ("secp521r1",), "ca": ("Example Issuing CA",), "node": ("node1",),
        "unit": units, "roots": (["Example Root"],), "hosts": (["node1.example.test", "node2.example.test"],),
        "ports": ([7071],), "words": (words,), "rsa_unit": units[:1], "ecdsa_unit": units[1:],
        "rsa": READINGS_RSA, "ecdsa": READINGS_ECDSA, "intended": (*STATES, "none"),
        "design": (None, "RSA only by design (11.6+)"), "ecdsa_answered": (True, False),
        "ecdsa_by_rsa_ca": (True, False), "why": ("self-signed", "signed by an RSA CA"),
        "issuer_sent": (True, False), "self_signed": (True, False),
        "server_fix": (remedies.sign_with_ca(endpoint, "ECDSA"), remedies.missing_intermediate(endpoint, "RSA")),
    }


def rendered(endpoint: Endpoint) -> Iterator[tuple[str, str]]:
    """(function, text) for every remediation function and argument combination."""
    table = arguments(endpoint)
    for name, function in inspect.getmembers(remedies, inspect.isfunction):
        if function.__module__ != remedies.__name__ or name.startswith("_"):
            continue
        parameters = list(inspect.signature(function).parameters)
        unknown = [p for p in parameters if p not in table]
        assert not unknown, f"remedies.{name} takes {unknown}: add them to this test's table"
        for values in itertools.product(*(table[p] for p in parameters)):
            result = function(**dict(zip(parameters, values, strict=True)))
            for text in (result if isinstance(result, list) else [result]):
                yield name, str(text)
    for name, value in vars(remedies).items():
        if name.isupper() and isinstance(value, str):
            yield name, value


def problems(text: str, words: Vocabulary) -> list[str]:
    found = []
    if match := DOUBLED.search(text):
        found.append(f"doubled word {match.group(0)!r}")
    if match := TWO_ARTICLES.search(text):
        found.append(f"two articles {match.group(0)!r}")
    for match in A_BEFORE_VOWEL.finditer(text):
        if not match.group(1).lower().startswith(("us", "un", "uni")):   # a user, a unit
            found.append(f"'a' before a vowel: {match.group(0)!r}")
    for match in AN_BEFORE_CONSONANT.finditer(text):
        initials = re.match(r"[A-Za-z]+", match.group(1))
        word = initials.group(0) if initials else match.group(1)   # "RSA-only" is read as "RSA"
        if not (word.isupper() and word[0] in SPOKEN_VOWEL_INITIALS):
            found.append(f"'an' before a consonant: {match.group(0)!r}")
    if not words.vos and (match := VOS_WORDS.search(text)):
        found.append(f"VOS vocabulary on a server that is not VOS: {match.group(0)!r}")
    return found


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_fix_reads_right_in_the_roles_words(role: str) -> None:
    bad: dict[str, str] = {}
    count = 0
    for endpoint in endpoints(role):
        for name, text in rendered(endpoint):
            count += 1
            for problem in problems(text, endpoint.vocabulary):
                bad.setdefault(f"{name}: {problem}", text)
    assert count > 300, count   # every function was rendered, many times
    assert not bad, "\n".join(f"{k}\n    {v}" for k, v in list(bad.items())[:20])


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_diagnosis_text_reads_right_in_the_roles_words(role: str) -> None:
    words = ROLES[role].vocabulary
    texts = [experience_of(state, words) for state in (*STATES, "mixed", "unknown")]
    texts = [t for t in texts if t]
    assert len(texts) == len(STATES)
    bad = [(text, p) for text in texts for p in problems(text, words)]
    assert not bad, bad


def test_a_generic_server_is_spoken_of_in_plain_words() -> None:
    """The issue's own examples, on role generic: the server's certificate, your CA, reload the server."""
    [endpoint] = endpoints("generic")
    assert endpoint.vocabulary == GENERIC
    fix = remedies.sign_with_ca(endpoint, "ECDSA")
    assert fix == ("on node1: generate a CSR for the server's ECDSA certificate, have an EC CA sign it, install the "
                   "intermediate with the certificate and make sure clients trust the EC root, install the signed "
                   "certificate as the server's ECDSA certificate, then reload the server")
    assert "reload the server" in remedies.present_rsa(endpoint)
    assert remedies.stop_ecdsa(endpoint).startswith("on node1: the policy is RSA-only: remove the ECDSA certificate "
                                                    "from the server's TLS configuration")
    assert set(CLIENT_EXPERIENCE) == set(STATES)


def test_a_vos_role_keeps_the_vendors_procedure() -> None:
    [tomcat, *_] = endpoints("uccx")
    fix = remedies.ecdsa_signed_by_rsa(tomcat)
    assert fix == ("node1: tomcat-ECDSA is signed by an RSA CA (CSCvb58580): generate a tomcat-ECDSA CSR (Cisco "
                   "Unified OS Administration > Security > Certificate Management), have an EC CA sign it, upload the "
                   "EC root (and any intermediate) as tomcat-trust, upload the signed certificate as tomcat-ECDSA, "
                   "then restart Cisco UCCX on publisher and subscriber; or, if your CA can sign only with RSA, "
                   "install the UCCX COP (it disables ECDSA) for an RSA-only environment")
