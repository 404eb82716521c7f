"""`reproduce`: the `openssl s_client` command line that sends a probe's offer by hand, so an
administrator can see for themselves what dualcert saw (docs/clients.md, "Reproduce by hand")."""

from __future__ import annotations

import shlex
from functools import lru_cache

from dualcert.estate.model import Endpoint
from dualcert.probe.hello import OfferSpec

# OpenSSL before 3.2 (Debian 12's 3.0) knows the SHA-1 schemes and ecdsa_sha224 only by their old spelling.
_PORTABLE_SIGALGS = {"ecdsa_sha1": "ECDSA+SHA1", "rsa_pkcs1_sha1": "RSA+SHA1", "ecdsa_sha224": "ECDSA+SHA224"}
_FLAGS = {"tls1.0": "tls1", "tls1.1": "tls1_1", "tls1.2": "tls1_2", "tls1.3": "tls1_3"}
# `openssl s_client -starttls` speaks these of dualcert's STARTTLS protocols.
_STARTTLS = {"xmpp": "xmpp", "xmpp-server": "xmpp-server", "smtp": "smtp", "ldap": "ldap", "postgres": "postgres",
             "imap": "imap", "pop3": "pop3", "ftp": "ftp"}


def openssl_command(endpoint: Endpoint, spec: OfferSpec) -> str:
    """One shell line: paste it, and the server answers it as it answered the probe. The leaf is
    the first certificate s_client prints (`-showcerts` prints the whole chain)."""
    host = endpoint.connect_to
    connect = f"[{host}]:{endpoint.port}" if ":" in host else f"{host}:{endpoint.port}"
    args = ["openssl", "s_client", "-connect", connect]
    args += ["-servername", endpoint.sni] if endpoint.sni else ["-noservername"]
    protocol = endpoint.service.starttls
    if protocol:
        args += ["-starttls", _STARTTLS.get(protocol, protocol)]
        if protocol.startswith("xmpp"):
            args += ["-xmpphost", endpoint.service.xmpp_domain or endpoint.host]
    return f"{shlex.join(args)} {_offer_args(spec)} </dev/null"


@lru_cache(maxsize=256)
def _offer_args(spec: OfferSpec) -> str:
    """The hello's part of the line, the same for every endpoint: made once per offer, not per probe."""
    args: list[str] = []
    if spec.versions:  # a client's range: switch off the versions outside it
        args += [f"-no_{flag}" for version, flag in _FLAGS.items() if version not in spec.versions]
    else:
        args.append(f"-{_FLAGS[spec.version.value]}")
    below_tls13 = any(v != "tls1.3" for v in spec.versions) if spec.versions else spec.version.value != "tls1.3"
    if below_tls13:
        args += ["-cipher", spec.cipher_list]
    if spec.tls13_suites:
        args += ["-ciphersuites", spec.tls13_suites]
    args += ["-sigalgs", ":".join(_PORTABLE_SIGALGS.get(s, s) for s in spec.sigalgs.split(":"))]
    if spec.groups:
        args += ["-groups", spec.groups]
    args.append("-showcerts")
    return shlex.join(args)


def split_command(command: str, hello: str | None = None) -> tuple[str, str] | None:
    """An openssl_command() line as (the endpoint's part, the hello's part), so that a results file holds each
    once (docs/results-json.md, `hellos`); `hello`: the part already known for this offer (no parsing then).
    None for a line this module did not make."""
    if hello is not None:
        tail = f" {hello} </dev/null"
        return (command[:-len(tail)], hello) if command.endswith(tail) and len(command) > len(tail) else None
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    if tokens[:3] != ["openssl", "s_client", "-connect"] or len(tokens) < 6 or tokens[-1] != "</dev/null":
        return None
    count = 4 + (2 if tokens[4] == "-servername" else 1)
    for flag in ("-starttls", "-xmpphost"):
        count += 2 if tokens[count:count + 1] == [flag] else 0
    endpoint, offer = shlex.join(tokens[:count]), shlex.join(tokens[count:-1])
    return (endpoint, offer) if f"{endpoint} {offer} </dev/null" == command else None
