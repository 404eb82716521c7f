"""The one place that builds pyOpenSSL contexts, for the probe and the lab servers alike.

pyOpenSSL has no public setter for signature_algorithms; cryptography's OpenSSL binding
exposes SSL_CTX_set1_sigalgs_list and SSL_CTX_set_ciphersuites, reached through pyOpenSSL's private `_lib`. That
private reach is confined to `set_sigalgs` and `set_tls13_suites` below.
"""

from __future__ import annotations

from pathlib import Path

from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi  # private: see module docstring
from OpenSSL._util import lib as _lib

from dualcert.offers import TLSVersion
from dualcert.probe.hello import OfferSpec

_PROTO = {TLSVersion.TLS1_2: SSL.TLS1_2_VERSION, TLSVersion.TLS1_3: SSL.TLS1_3_VERSION}
_OP_TLSEXT_PADDING = 0x10  # SSL_OP_TLSEXT_PADDING in OpenSSL's ssl.h; pyOpenSSL does not name it
# A client profile's range may reach below TLS 1.2 (Java 8, OpenSSL 1.0.2, Schannel on Windows 10).
_RANGE = {"tls1.0": SSL.TLS1_VERSION, "tls1.1": SSL.TLS1_1_VERSION, "tls1.2": SSL.TLS1_2_VERSION,
          "tls1.3": SSL.TLS1_3_VERSION}


class TLSConfigError(ValueError):
    """OpenSSL rejected a cipher or signature-algorithm list."""


def set_sigalgs(context: SSL.Context, sigalgs: str) -> None:
    """Restrict (client) or order (server) the signature algorithms of `context`."""
    if _lib.SSL_CTX_set1_sigalgs_list(context._context, _ffi.new("char[]", sigalgs.encode())) != 1:
        raise TLSConfigError(f"OpenSSL rejected signature algorithms {sigalgs!r}")


def set_tls13_suites(context: SSL.Context, suites: str) -> None:
    """The TLS 1.3 cipher suites of `context` (pyOpenSSL has no setter for them)."""
    if _lib.SSL_CTX_set_ciphersuites(context._context, _ffi.new("char[]", suites.encode())) != 1:
        raise TLSConfigError(f"OpenSSL rejected TLS 1.3 cipher suites {suites!r}")


def client_context(spec: OfferSpec) -> SSL.Context:
    """A context whose ClientHello offers exactly `spec`. Verification is off on purpose:
    the chain is judged afterwards, from its DER bytes, by `dualcert.chain`."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    if spec.versions:
        ctx.set_min_proto_version(min(_RANGE[v] for v in spec.versions))
        ctx.set_max_proto_version(max(_RANGE[v] for v in spec.versions))
    else:
        version = _PROTO[TLSVersion(spec.version)]
        ctx.set_min_proto_version(version)
        ctx.set_max_proto_version(version)
    ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_cipher_list(spec.cipher_list.encode())
    set_sigalgs(ctx, spec.sigalgs)
    if spec.tls13_suites:
        set_tls13_suites(ctx, spec.tls13_suites)
    ctx.set_options(SSL.OP_NO_TICKET)
    if spec.control:
        # The control hello of TLS 1.2 is ~320 bytes: old F5 BIG-IP stacks drop hellos of 256-511
        # bytes; the padding extension (RFC 7685) takes it past 512, as browsers do.
        ctx.set_options(_OP_TLSEXT_PADDING)
    return ctx


def server_context(
    chains: list[tuple[Path, Path]],
    *,
    sigalgs_preference: str | None = None,
    cipher_preference: str | None = None,
    versions: tuple[TLSVersion, ...] = (TLSVersion.TLS1_2, TLSVersion.TLS1_3),
) -> SSL.Context:
    """A server context holding one chain per key type, like nginx with two
    `ssl_certificate` lines. OpenSSL picks the chain from the client's offer; when the
    client accepts both, the server-side preference lists decide."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(_PROTO[min(versions, key=lambda v: _PROTO[v])])
    ctx.set_max_proto_version(_PROTO[max(versions, key=lambda v: _PROTO[v])])
    for chain_file, key_file in chains:
        # use_certificate_chain_file binds the chain to *this* key type's slot.
        ctx.use_certificate_chain_file(str(chain_file))
        ctx.use_privatekey_file(str(key_file))
    ctx.set_cipher_list((cipher_preference or "ALL:@SECLEVEL=0").encode())
    if sigalgs_preference:
        set_sigalgs(ctx, sigalgs_preference)
    ctx.set_options(SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    return ctx
