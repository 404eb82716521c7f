"""All remediation text: what to do, in the words of the role the server plays. Pure text; every
failing verdict's fix is one of these.

A role's words (its certificate slots, where certificates are managed, its restart step, how it stops
presenting ECDSA, who is affected) are catalog data (`vocabulary:` in estate/data/catalog.yaml, read
into estate.vocabulary.Vocabulary): a Cisco VOS role speaks of tomcat-ECDSA, OS Administration and the
COP; a generic server of "the server's ECDSA certificate", your CA and reloading the server.
"""

from __future__ import annotations

from dualcert.estate.model import Endpoint
from dualcert.estate.vocabulary import Unit, Vocabulary
from dualcert.rules.presented import ecdsa_words


def unit_for(endpoint: Endpoint, family: str) -> Unit:
    """The certificate the endpoint presents to `family` offers ("RSA" or "ECDSA"), in its role's words."""
    name = endpoint.service.ecdsa_unit if family == "ECDSA" else endpoint.service.rsa_unit
    return endpoint.vocabulary.unit(name or f"{'ECDSA' if family == 'ECDSA' else 'RSA'} certificate")


def _sign_steps(unit: Unit, family: str) -> str:
    """Generate a CSR, have the right CA sign it, install the chain and the certificate, restart."""
    ca, root = ("an EC CA", "the EC root") if family == "ECDSA" else ("your CA", "the CA root")
    return (f"generate {unit.csr}{unit.where}, have {ca} sign it, {unit.upload_root(root)}, "
            f"{unit.upload()}, then {unit.words.restart_step(unit)}")


def sign_with_ca(endpoint: Endpoint, family: str) -> str:
    return f"on {endpoint.node}: {_sign_steps(unit_for(endpoint, family), family)}"


def _rsa_only_instead(words: Vocabulary) -> str:
    """The way out when the CA signs with RSA only: stop presenting ECDSA."""
    return f"or, if your CA can sign only with RSA, {words.disable_ecdsa} for an RSA-only environment"


def ecdsa_signed_by_rsa(endpoint: Endpoint) -> str:
    unit = unit_for(endpoint, "ECDSA")
    bug = " (CSCvb58580)" if unit.words.vos else ""
    return (f"{endpoint.node}: {unit} is signed by an RSA CA{bug}: {_sign_steps(unit, 'ECDSA')}; "
            f"{_rsa_only_instead(unit.words)}")


def present_ecdsa(endpoint: Endpoint) -> str:
    unit = unit_for(endpoint, "ECDSA")
    release = endpoint.release
    if release is not None and release.fix:
        return f"on {endpoint.node}: make {endpoint.service.name} present {unit}: {release.fix}"
    return (f"on {endpoint.node}: make {endpoint.service.name} present {unit}: if it was turned off, "
            f"{unit.words.enable_ecdsa}; then have {unit} signed by an EC CA and "
            f"{unit.words.restart_step(unit)}")


def release_design(endpoint: Endpoint) -> str:
    """The node's release behaviour in words (catalog `design:`), e.g. "RSA only by design (11.6+)"."""
    release = endpoint.release
    return (release.design if release and release.design else "") or "the policy is RSA-only"


def stop_ecdsa(endpoint: Endpoint) -> str:
    release = endpoint.release
    if release is not None and release.rsa_only_by_design:
        return (f"on {endpoint.node}: {endpoint.service.name} should present no ECDSA certificate "
                f"({release_design(endpoint)}): {release.fix or 'check the node release in the inventory'}; "
                "if the inventory's 'version:' is wrong, correct it")
    unit = unit_for(endpoint, "ECDSA")
    return (f"on {endpoint.node}: the policy is RSA-only: {unit.words.disable_ecdsa} so {endpoint.service.name} "
            f"stops presenting {unit}, or change the policy if ECDSA is now intended")


def present_rsa(endpoint: Endpoint) -> str:
    unit = unit_for(endpoint, "RSA")
    return (f"on {endpoint.node}: {endpoint.service.name} must present {unit} to RSA clients; check that it is "
            f"installed and {unit.words.restart_step(unit)}")


# The two fixes of a port that gave no TLS conversation name no endpoint: the test's message does, and
# the summary gives one finding to every endpoint that failed for one cause, under one fix.
UNRESOLVED = ("the node's host name does not resolve from here: check its spelling and the DNS this runner uses, "
              "or give the node an 'address:' in the inventory (the name is still sent as SNI and checked on "
              "the certificate)")
UNREACHABLE = ("check that the service runs and that its address and port are reachable from here (firewall, "
               "port, service state), or fix the inventory")
NO_TLS = ("check that the port is the service's TLS port (the inventory's port, the service's state, and its "
          "STARTTLS setting if it has one), and whether a firewall, load balancer or proxy on the way resets or "
          "ends the connections: `openssl s_client -connect` to the same address shows what the port answers; "
          "this is not a matter of TLS versions or certificates")


def not_a_refusal(endpoint: Endpoint) -> str:
    return (f"probe {endpoint.connect_to}:{endpoint.port} again with an ECDSA-only client (openssl s_client "
            f"-sigalgs ECDSA+SHA256 -showcerts): if {endpoint.service.name} presents a certificate, "
            f"{stop_ecdsa(endpoint)}")


def send_intermediate_or_bundle() -> str:
    return ("add the issuing CA to the inventory's trust bundle (with its root), or have the server send its "
            "intermediate (upload it with the certificate, as the CA's chain), so that the chain can be judged")


def send_chain(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"on {endpoint.node}: {unit.upload_chain('the issuing CA certificate(s)')} (or re-upload {unit} with "
            f"its full chain), so that {endpoint.service.name} sends its intermediate with the leaf")


def weak_signature(endpoint: Endpoint, family: str, names: list[str], *, leaf: bool) -> str:
    unit = unit_for(endpoint, family)
    if leaf:
        return (f"on {endpoint.node}: generate {unit.csr}{unit.where} and have the CA sign it with SHA-256 or "
                f"stronger, then {unit.upload('it')} (a CA that still signs with SHA-1 or MD5 must be reconfigured)")
    return (f"the CA certificate(s) {', '.join(names)} carry a weak signature: have the CA re-issue them with "
            f"SHA-256 or stronger, {unit.upload_chain('them')} on {endpoint.node}, and re-upload {unit} "
            "with the new chain")


def weak_ca_key(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"the issuing CA's key is weaker than the policy allows: have {unit} signed by a CA with a strong key "
            f"(RSA 2048+ or P-256/P-384), {unit.upload_chain('that CA chain')} on {endpoint.node} and "
            f"re-upload {unit}")


WEAK_ANCHOR = ("replace that root (in the trust bundle and on the clients) with one of an allowed key, re-issuing "
               "the CAs below it, or set bundle_roots: checked in the policy to fail on it")


LINT = ("report only: have the CA issue certificates per RFC 5280 / the CA/Browser Forum profile at their next "
        "renewal (critical basicConstraints and keyUsage on CAs, key identifiers, serverAuth EKU and SANs on "
        "server certificates); clients accept these today, stricter ones may not")


def shorten_chain(endpoint: Endpoint, family: str) -> str:
    """The Certificate message is over OpenSSL's 100 KiB certificate-list limit."""
    unit = unit_for(endpoint, family)
    return (f"on {endpoint.node}: reissue {unit} with fewer subject alternative names (a multi-server certificate "
            f"per cluster, not one name list for every host) and upload only the issuing chain, so that the "
            f"certificate list stays under 100 KiB: OpenSSL-based clients reject longer ones")


def version_missing(endpoint: Endpoint, version: str) -> str:
    """The server does not speak a TLS version the policy requires: a software matter, not a certificate one."""
    return (f"{endpoint.service.name} on {endpoint.node} does not speak {version}: upgrade it to a release that "
            f"supports {version} (and enable {version} in its TLS settings), or make {version} optional in the "
            f"policy (versions: {{{version.lower().replace(' ', '')}: optional}})")


def renew(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return f"on {endpoint.node}: renew {unit} (regenerate or have the CA re-sign it) before it expires"


def add_trust(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"add the issuing root of {unit} on {endpoint.node} to the inventory's trust bundle if it is your CA; "
            f"otherwise {sign_with_ca(endpoint, family)}")


def trust_self_signed(endpoint: Endpoint, family: str) -> str:
    """A self-signed leaf is trusted only where that very certificate is in the store: there is no root to add."""
    unit = unit_for(endpoint, family)
    return (f"{unit} on {endpoint.node} is self-signed, and clients trust a self-signed certificate only when that "
            "very certificate is in their trust store: if self-signed is what you intend, add it to the inventory's "
            f"trust bundle (and to the clients'); otherwise {sign_with_ca(endpoint, family)}")


def renew_ca(endpoint: Endpoint, family: str, ca: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"the CA certificate {ca!r} in the chain of {unit} on {endpoint.node} expires first: have the CA "
            f"renew it, {unit.upload_chain('the renewed CA certificate')} on {endpoint.node} and add it to the "
            f"inventory's trust bundle, and re-upload {unit} with the new chain")


def missing_intermediate(endpoint: Endpoint, family: str) -> str:
    """The leaf is CA-signed but its issuer is neither sent nor in the bundle: the server's chain is short."""
    unit = unit_for(endpoint, family)
    return (f"on {endpoint.node}: {endpoint.service.name} does not send the CA that issued {unit}: "
            f"{unit.upload_chain('the issuing CA certificate(s)')} (or re-upload {unit} with its full chain); "
            "if that CA is yours, also add its root to the inventory's trust bundle")


def leaf_out_of_validity(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"on {endpoint.node}: {unit} is outside its validity period: renew it (have the CA sign a new "
            f"CSR) and upload it; if it is not yet valid, check the node's and the CA's clocks")


def ca_out_of_validity(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    current = unit.upload_chain("the CA's current certificate")
    return (f"a CA certificate on the path of {unit} on {endpoint.node} is expired or not yet valid: "
            f"{current} on {endpoint.node} and add it to the "
            f"inventory's trust bundle, and re-upload {unit} with the renewed chain (or have it signed by a "
            "current CA)")


def bad_signature(endpoint: Endpoint, family: str) -> str:
    """A certificate whose signature its named issuer's key does not verify: the wrong CA certificate
    (a namesake, an old key) is sent or bundled, or the certificate was altered."""
    unit = unit_for(endpoint, family)
    return (f"a signature on the path of {unit} on {endpoint.node} does not verify with its issuer's key (see the "
            f"message): {unit.upload_chain('the CA certificate that really issued it')} (not an older or "
            f"namesake one), put that CA's root in the inventory's trust bundle, and re-upload {unit}; if the "
            "CA did issue it, have it re-issued")


def too_complex(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"the name constraints on the path of {unit} on {endpoint.node} need more checking than clients "
            "do (see the message): have the CA re-issue its CA certificate with fewer name constraints, or "
            f"{unit} with fewer subject alternative names")


def profile(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"clients reject the path of {unit} on {endpoint.node} (see the message): have the CA re-issue the "
            f"certificate it names as RFC 5280 requires (a CA with cA=true and keyCertSign, serverAuth or no "
            f"extendedKeyUsage, names inside any name constraints), then upload the new chain and {unit}")


def hostname(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"generate {unit.csr} on {endpoint.node} with {endpoint.host} in the subject alternative names "
            f"(or fix 'host:' in the inventory if it is wrong), have it signed and {unit.upload('it')}")


def reissue_malformed(endpoint: Endpoint) -> str:
    where = "the appliance's" if endpoint.vocabulary.vos else "a new"
    return (f"{endpoint.node}: the certificate is malformed (e.g. a name that is not valid text); "
            f"re-issue it from {where} CSR and upload it again")


def browser_gets_ecdsa(endpoint: Endpoint) -> str:
    """A browser got ECDSA where RSA is intended for it, while the RSA-only offer got RSA: the server's order."""
    unit = unit_for(endpoint, "RSA")
    return (f"on {endpoint.node}: {endpoint.service.name} presents {unit} to RSA-only clients but prefers ECDSA for "
            "clients that offer both (browsers): if browsers must get RSA, make the server choose its cipher "
            "order and put the RSA suites first (nginx: ssl_prefer_server_ciphers on with ECDHE-RSA first; Java: "
            "honorCipherOrder), or, if ECDSA for browsers is intended, set the service's prefers: ecdsa in the "
            "inventory")


def browser_gets_rsa(endpoint: Endpoint, *, ecdsa_answered: bool, ecdsa_by_rsa_ca: bool) -> str:
    """A browser got RSA where ECDSA is intended; why depends on what the ECDSA-only offer got."""
    unit = unit_for(endpoint, "ECDSA")
    lead = f"a browser offering both should get {unit} here"
    if not ecdsa_answered:
        return f"{lead}; the ECDSA-only offer is not answered either: {present_ecdsa(endpoint)}"
    if ecdsa_by_rsa_ca:
        return f"{lead}; {ecdsa_signed_by_rsa(endpoint)}"
    return f"{lead}; the server prefers RSA although {unit} is available: check the service's configuration"


CA_SIGNED_NOW = "change the policy to a CA-signed profile if the site now uses a CA"
ADD_TRUST_BUNDLE = "add 'trust: <PEM file of your roots>' (or 'trust: mozilla') to the inventory"
NOT_YET_VALID = "check the node's clock and the certificate's dates"
DECLARE_CHANGE = ("if this change is intended (an upgrade, a renewal), declare it in the policy's expected_changes "
                  "(docs/policy.md, 'Expected changes'); otherwise find out who changed the node")


def weak_key(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"generate {unit.csr} on {endpoint.node} with an allowed key size/curve, have it signed and "
            f"{unit.upload('it')}")


# --- the estate rules' fixes ----------------------------------------------------------------------

def reupload_unit(node: str, unit: Unit) -> str:
    slot = f"the one certificate in the {unit.name} slot" if unit.slot else "one certificate"
    return (f"on {node}: every service presenting {unit} should present {slot}: re-upload the current "
            f"certificate as {unit} and {unit.words.restart_step(unit)}")


def sign_with_same_ca(node: str, unit: Unit, roots: list[str]) -> str:
    return (f"on {node}: have {unit} signed by the same CA as on the other nodes ({', '.join(roots)}), "
            f"{unit.upload_root('its root')} and {unit.upload()}")


def multi_server_san(unit: Unit, hosts: list[str]) -> str:
    where = " on the publisher" if unit.words.vos else ""
    return (f"generate {unit.csr}{where} with every node ({', '.join(hosts)}) in the subject alternative names "
            f"(one multi-server certificate), have it signed and {unit.upload('it')}")


def close_plaintext(node: str, ports: list[int]) -> str:
    return (f"on {node}: close the plain-text port(s) {', '.join(map(str, ports))} as the product's security guide "
            "describes, or set 'plaintext_port: null' on the service in the inventory if the site needs it")


# --- the diagnosis' steps: from a measured deployment state to the intended one ------------------

def sign_rsa_step(node: str, unit: Unit) -> str:
    return f"{node}: {unit} is self-signed: {_sign_steps(unit, 'RSA')}"


def sign_ecdsa_step(node: str, unit: Unit, why: str) -> str:
    return f"{node}: {unit} is {why}: {_sign_steps(unit, 'ECDSA')}; {_rsa_only_instead(unit.words)}"


def state_steps(node: str, rsa_unit: Unit, ecdsa_unit: Unit, rsa: str | None, ecdsa: str | None, intended: str,
                design: str | None = None) -> list[str]:
    """The steps that bring one service from its readings (rules.presented.reading) to the intended state;
    `design`: the node's release presents RSA only by design (no COP to install, nothing to sign for ECDSA)."""
    words = ecdsa_unit.words
    steps: list[str] = []
    if design:
        if rsa == "self":
            steps.append(sign_rsa_step(node, rsa_unit))
        if ecdsa in ("self", "ec-ca", "rsa-ca"):
            steps.append(f"{node}: an ECDSA certificate is presented although the release presents RSA only "
                         f"({design}): check the node's 'version:' in the inventory")
        return steps
    if intended in ("S3", "rsa-only") and rsa == "self":
        steps.append(sign_rsa_step(node, rsa_unit))
    if intended == "S3":
        if ecdsa == "self":
            steps.append(sign_ecdsa_step(node, ecdsa_unit, "self-signed"))
        elif ecdsa == "rsa-ca":
            steps.append(sign_ecdsa_step(node, ecdsa_unit, "signed by an RSA CA"))
        elif ecdsa == "refused":
            steps.append(f"{node}: {ecdsa_unit} is not presented: {words.enable_ecdsa}, then "
                         f"{_sign_steps(ecdsa_unit, 'ECDSA')}")
    elif intended == "rsa-only":
        if ecdsa in ("self", "ec-ca", "rsa-ca"):
            kept = " (the ECDSA certificate stays in the keystore, unpresented)" if words.vos else ""
            steps.append(f"{node}: {ecdsa_unit} is presented ({ecdsa_words(ecdsa, words.vos)}) but the policy is "
                         "RSA-only: "
                         f"{words.disable_ecdsa} so that only RSA certificates are presented{kept}, "
                         f"{words.restart_step(ecdsa_unit)}")
    elif intended == "S1":
        if rsa == "ca" or ecdsa in ("ec-ca", "rsa-ca"):
            steps.append(f"{node}: {rsa_unit} and {ecdsa_unit} are CA-signed but the policy intends S1 "
                         "(self-signed): if the site now uses a CA, set intended_state: S3 in the policy and have "
                         "both signed (the ECDSA one by an EC CA)")
        if ecdsa == "refused":
            steps.append(f"{node}: {ecdsa_unit} is not presented but the policy intends S1: {words.enable_ecdsa}, "
                         "or set intended_state: rsa-only")
    else:  # S2 and S4 are the digest's broken states; intending one is a policy mistake
        steps.append(f"{node}: the policy intends {intended}, a state that breaks {words.users}' connections: set "
                     f"intended_state: S3 ({ecdsa_unit} signed by an EC CA) or rsa-only")
    return steps


def unreachable_node_step(node: str) -> str:
    return (f"{node}: check that its services are reachable from here (firewall, port, service state) and answer "
            "both an ECDSA-only and an RSA-only offer, or fix the inventory")


def accept_self_signed_step(words: Vocabulary) -> str:
    """S1 intended: nothing to sign; the users' side of self-signed certificates."""
    return (f"{words.users} accept the certificate warnings, or the self-signed certificates are installed in "
            "their trust stores (group policy, or per browser)")


# --- client simulation (rules/client_rules.py) ---

def client_cannot_connect(endpoint: Endpoint, client: str) -> str:
    return (f"{client}'s offer finds nothing it can use on {endpoint.node} {endpoint.service.name}: enable a "
            "TLS version and cipher suite it offers, or present the certificate type it accepts "
            f"({unit_for(endpoint, 'RSA')} for RSA, {unit_for(endpoint, 'ECDSA')} for ECDSA)")


def client_gets_other_family(endpoint: Endpoint, client: str, wanted: str) -> str:
    if wanted == "ecdsa":
        return f"for {client} to get ECDSA: " + present_ecdsa(endpoint)
    return f"for {client} to get RSA: " + present_rsa(endpoint)


def client_untrusted(client: str, interactive: bool, server_fix: str) -> str:
    """A client that cannot build a path: what its users see until the server's fix (by the trust
    failure's own cause) is done, and its trust store."""
    effect = "its users are asked to accept the certificate" if interactive else "it refuses the connection"
    return (f"until then {effect}. {server_fix}; and make sure {client}'s trust store holds the issuing root (group "
            "policy, the JRE's cacerts, a device's trusted CA list)")


def client_curve(endpoint: Endpoint, client: str, curve: str) -> str:
    unit = unit_for(endpoint, "ECDSA")
    return (f"{client} does not offer {curve}: generate {unit.csr} on P-256 or P-384{unit.where}, have it signed, "
            f"{unit.upload()} and {unit.words.restart_step(unit)}")


def browser_curve(endpoint: Endpoint, curve: str) -> str:
    unit = unit_for(endpoint, "ECDSA")
    return (f"browsers offer no TLS 1.3 signature scheme for {curve} (only P-256 and P-384): generate {unit.csr} on "
            f"P-256 or P-384{unit.where}, have it signed, {unit.upload()} and {unit.words.restart_step(unit)}; until "
            f"then {endpoint.service.name} must present {unit_for(endpoint, 'RSA')} to browsers")


def client_version(client: str, version: str) -> str:
    return (f"{client} negotiated {version}, which the policy does not accept: enable TLS 1.2 or later on the "
            f"service, or update {client}")
