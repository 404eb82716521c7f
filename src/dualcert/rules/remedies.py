"""What to do, in the words of the vendor's procedure (OS Administration > Security >
Certificate Management). Pure text; every check's failure message ends with one of these."""

from __future__ import annotations

from dualcert.estate.model import Endpoint


def unit_for(endpoint: Endpoint, family: str) -> str:
    unit = endpoint.service.ecdsa_unit if family == "ECDSA" else endpoint.service.rsa_unit
    return unit or ("the ECDSA certificate" if family == "ECDSA" else "the RSA certificate")


def trust_store_for(unit: str) -> str:
    base = unit.removesuffix("-ECDSA")
    return f"{base}-trust" if base and not base.startswith("the ") else "the trust store"


def sign_with_ca(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    ca = "an EC CA" if family == "ECDSA" else "your CA"
    root = "the EC root" if family == "ECDSA" else "the CA root"
    return (f"on {endpoint.node}: generate a {unit} CSR (OS Administration > Security > Certificate Management), "
            f"have {ca} sign it, upload {root} (and any intermediate) as {trust_store_for(unit)} and the signed "
            f"certificate as {unit}, then restart the services that present it")


def ecdsa_signed_by_rsa(endpoint: Endpoint) -> str:
    unit = unit_for(endpoint, "ECDSA")
    return (f"{endpoint.node}: {unit} is signed by an RSA CA (CSCvb58580): generate a {unit} CSR, have an EC CA "
            f"sign it, upload the EC root as {trust_store_for(unit)} and the certificate as {unit}, restart; "
            f"or, if your CA can sign only with RSA, install the ECDSA-disable COP for an RSA-only environment")


def present_ecdsa(endpoint: Endpoint) -> str:
    unit = unit_for(endpoint, "ECDSA")
    return (f"on {endpoint.node}: make {endpoint.service.name} present {unit}: if the ECDSA-disable COP is "
            f"installed, install the rollback COP; then have {unit} signed by an EC CA and restart")


def stop_ecdsa(endpoint: Endpoint) -> str:
    return (f"on {endpoint.node}: the policy is RSA-only: install the ECDSA-disable COP so {endpoint.service.name} "
            f"stops presenting {unit_for(endpoint, 'ECDSA')}, or change the policy if ECDSA is now intended")


def present_rsa(endpoint: Endpoint) -> str:
    return (f"on {endpoint.node}: {endpoint.service.name} must present {unit_for(endpoint, 'RSA')} to RSA clients; "
            f"check that the RSA certificate is installed and the service restarted")


def unreachable(endpoint: Endpoint) -> str:
    return (f"check that {endpoint.service.name} runs on {endpoint.node} and that {endpoint.connect_to}:"
            f"{endpoint.port} is reachable from here (firewall, port, service state), or fix the inventory")


def renew(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return f"on {endpoint.node}: renew {unit} (regenerate or have the CA re-sign it) before it expires"


def add_trust(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"add the issuing root of {endpoint.node}'s {unit} to the inventory's trust bundle if it is your CA; "
            f"otherwise {sign_with_ca(endpoint, family)}")


def hostname(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return (f"regenerate the {unit} CSR on {endpoint.node} with {endpoint.host} in the subject alternative names "
            f"(or fix 'host:' in the inventory if it is wrong), have it signed and upload it")


def weak_key(endpoint: Endpoint, family: str) -> str:
    unit = unit_for(endpoint, family)
    return f"regenerate {unit} on {endpoint.node} with an allowed key size/curve, have it signed and upload it"
