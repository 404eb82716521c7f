"""Dual-certificate servers that nobody here wrote, from Debian packages: nginx, openssl s_server.

Each helper starts the server on 127.0.0.1 with an RSA and an ECDSA chain and stops it on exit."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dualcert.lab.pki import CA, KeySpec

from .conftest import debian_binary, free_port
from .peers import tcp_peer


@dataclass
class DualPKI:
    directory: Path
    rsa: tuple[Path, Path]   # (chain, key)
    ec: tuple[Path, Path]
    rsa_leaf_only: Path
    ec_leaf_only: Path
    rsa_issuing: Path
    ec_issuing: Path
    roots: Path


def make_pki(directory: Path, host: str = "dual.example.test") -> DualPKI:
    from cryptography.hazmat.primitives import serialization

    rsa_root = CA.root("Third-party RSA Root", KeySpec.rsa())
    rsa_issuing = rsa_root.sub_ca("Third-party RSA Issuing CA")
    ec_root = CA.root("Third-party EC Root", KeySpec.ec("secp384r1"))
    ec_issuing = ec_root.sub_ca("Third-party EC Issuing CA")
    rsa_leaf = rsa_issuing.issue([host, "127.0.0.1"], KeySpec.rsa())
    ec_leaf = ec_issuing.issue([host, "127.0.0.1"], KeySpec.ec())

    def pem(path: Path, *certs) -> Path:
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return path

    return DualPKI(
        directory, rsa_leaf.write(directory, "rsa"), ec_leaf.write(directory, "ec"),
        pem(directory / "rsa-leaf.pem", rsa_leaf.cert), pem(directory / "ec-leaf.pem", ec_leaf.cert),
        pem(directory / "rsa-issuing.pem", rsa_issuing.cert), pem(directory / "ec-issuing.pem", ec_issuing.cert),
        pem(directory / "roots.pem", rsa_root.cert, ec_root.cert),
    )


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


@contextlib.contextmanager
def running(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


NGINX_MAIN = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
{servers}
}}
"""

DUAL_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name dual.example.test;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {rsa_chain};
        ssl_certificate_key {rsa_key};
        ssl_certificate {ec_chain};
        ssl_certificate_key {ec_key};
        location / {{ return 200 "dual\\n"; }}
    }}"""


@contextlib.contextmanager
def nginx_serving(directory: Path, servers: str, port: int) -> Iterator[None]:
    """One nginx (no master, no daemon) with the given server blocks, its files in `directory`;
    ready once `port` (the last block's: nginx binds them all before serving) accepts."""
    binary = debian_binary("nginx", "nginx-light")
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(dir=directory, servers=servers))
    with running([binary, "-c", str(conf), "-p", str(directory)], port):
        yield


@contextlib.contextmanager
def nginx_dual(pki: DualPKI) -> Iterator[int]:
    port = free_port()
    server = DUAL_SERVER.format(port=port, rsa_chain=pki.rsa[0], rsa_key=pki.rsa[1], ec_chain=pki.ec[0],
                                ec_key=pki.ec[1])
    with nginx_serving(pki.directory, server, port):
        yield port


@contextlib.contextmanager
def openssl_s_server_tls13(pki: DualPKI) -> Iterator[int]:
    """`openssl s_server -tls1_3 -cert RSA -dcert ECDSA`: TLS 1.3 only, two certificates."""
    binary = debian_binary("openssl", "openssl")
    port = free_port()
    command = [binary, "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_3", "-quiet", "-www",
               "-cert", str(pki.rsa_leaf_only), "-key", str(pki.rsa[1]), "-cert_chain", str(pki.rsa_issuing),
               "-dcert", str(pki.ec_leaf_only), "-dkey", str(pki.ec[1]), "-dcert_chain", str(pki.ec_issuing)]
    with running(command, port):
        yield port


TOMCAT_SERVER_XML = """<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true" maxThreads="8">
      <SSLHostConfig protocols="{protocols}">
{certificates}
      </SSLHostConfig>
    </Connector>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
"""


TOMCAT_CERTIFICATE = """        <Certificate type="{type}" certificateFile="{leaf}" certificateKeyFile="{key}"
                     certificateChainFile="{issuing}"/>"""


@contextlib.contextmanager
def tomcat_dual(pki: DualPKI, protocols: str = "TLSv1.2+TLSv1.3",
                certificates: tuple[str, ...] = ("RSA", "EC")) -> Iterator[int]:
    """Debian's Tomcat 10 (JSSE) with an RSA and an EC <Certificate> in one SSLHostConfig, as VOS
    Tomcat holds tomcat and tomcat-ECDSA (`certificates` keeps one of them: a single keystore).
    Runs from a private CATALINA_BASE in the test's directory."""
    catalina = debian_binary("/usr/share/tomcat10/bin/catalina.sh", "tomcat10-common")
    port = free_port()
    base = pki.directory / "catalina-base"
    for sub in ("conf", "logs", "webapps", "temp", "work"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    files = {"RSA": (pki.rsa_leaf_only, pki.rsa[1], pki.rsa_issuing),
             "EC": (pki.ec_leaf_only, pki.ec[1], pki.ec_issuing)}
    held = "\n".join(TOMCAT_CERTIFICATE.format(type=kind, leaf=files[kind][0], key=files[kind][1],
                                                issuing=files[kind][2]) for kind in certificates)
    (base / "conf" / "server.xml").write_text(TOMCAT_SERVER_XML.format(port=port, protocols=protocols,
                                                                        certificates=held))
    env = {**os.environ, "CATALINA_BASE": str(base), "CATALINA_HOME": str(Path(catalina).parents[1]),
           "CATALINA_PID": str(base / "tomcat.pid")}
    process = subprocess.Popen([catalina, "run"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, process, timeout=60)
        yield port
    finally:
        # catalina.sh execs java; end the whole session so no JVM outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def s_client_leaf_sha256(port: int, *options: str) -> str | None:
    """The leaf fingerprint `openssl s_client` reports with the given restriction, or None."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                             "dual.example.test", *options], input=b"", capture_output=True, timeout=20)
    match = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", result.stdout, re.S)
    if not match:
        return None
    return x509.load_pem_x509_certificate(match.group()).fingerprint(hashes.SHA256()).hex()


# --- stacks that speak TLS 1.2 at most (issue 12), each answering a TLS 1.3-only hello its own way ---

@contextlib.contextmanager
def gnutls_serv(pki: DualPKI, priority: str = "NORMAL", *, dual: bool = True) -> Iterator[int]:
    """Debian's gnutls-serv with the RSA chain (and the ECDSA one when `dual`) and a priority string."""
    binary = debian_binary("gnutls-serv", "gnutls-bin")
    port = free_port()
    command = [binary, "--port", str(port), "--priority", priority]
    for chain, key in (pki.rsa, pki.ec) if dual else (pki.rsa,):
        command += ["--x509certfile", str(chain), "--x509keyfile", str(key)]
    with running(command, port):
        yield port


def gnutls_serv_tls12(pki: DualPKI) -> contextlib.AbstractContextManager[int]:
    """gnutls-serv with TLS 1.3 disabled by its priority string, RSA certificate only. GnuTLS then
    ignores supported_versions and answers a TLS 1.3-only hello with handshake_failure."""
    return gnutls_serv(pki, "NORMAL:-VERS-TLS1.3", dual=False)


@contextlib.contextmanager
def tlslite_tls12(pki: DualPKI) -> Iterator[int]:
    """tlslite-ng (pure Python, PyPI) capped at TLS 1.2: a stack that knows TLS 1.3 and answers a
    TLS 1.3-only hello with protocol_version. Serves the RSA chain, one thread per connection."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # tlslite-ng imports asyncore
        from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    chain = X509CertChain()
    chain.parsePemList(pki.rsa[0].read_text())
    key = parsePEMKey(pki.rsa[1].read_text(), private=True)
    settings = HandshakeSettings()
    settings.maxVersion = (3, 3)

    def handshake(conn: socket.socket) -> None:
        tls = TLSConnection(conn)
        with conn, contextlib.suppress(Exception):  # tlslite raises on every refused hello: that is the point
            tls.handshakeServer(certChain=chain, privateKey=key, settings=settings)
            tls.close()

    with tcp_peer(handshake) as port:
        yield port


@contextlib.contextmanager
def openssl_fixed_tls12(pki: DualPKI, connections: list[int] | None = None) -> Iterator[int]:
    """The system OpenSSL through Python's ssl module with a fixed-version method (TLSv1_2_method):
    like OpenSSL 1.0.2 servers it ignores supported_versions, finds no common cipher suite in a
    TLS 1.3-only hello and answers handshake_failure. `connections` collects one entry per connection."""
    import ssl
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PROTOCOL_TLSv1_2 is the old API on purpose
        context = ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
    context.load_cert_chain(pki.rsa[0], pki.rsa[1])

    def handshake(conn: socket.socket) -> None:
        if connections is not None:  # counted, for tests of how many handshakes a probe costs
            connections.append(conn.fileno())
        with conn, context.wrap_socket(conn, server_side=True) as tls:
            tls.unwrap()

    with tcp_peer(handshake) as port:
        yield port


# supported_versions (43) listing TLS 1.3 alone: what a TLS-1.3-only ClientHello carries.
_TLS13_ONLY = bytes([0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x04])


@contextlib.contextmanager
def tls12_dropping_tls13(pki: DualPKI) -> Iterator[int]:
    """A TLS 1.2 server (the system OpenSSL, TLSv1_2_method) behind a filter that closes, without an
    alert, every connection whose ClientHello offers TLS 1.3 alone, as some middleboxes and old load
    balancers do: the TLS 1.3 hellos get no TLS answer, the TLS 1.2 ones complete."""
    import ssl
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
    context.load_cert_chain(pki.rsa[0], pki.rsa[1])

    def handshake(conn: socket.socket) -> None:
        hello = conn.recv(16384, socket.MSG_PEEK)
        if _TLS13_ONLY in hello:
            conn.recv(16384)   # read, so that the close is a FIN, not the reset of unread data
            conn.close()
            return
        with conn, context.wrap_socket(conn, server_side=True) as tls:
            tls.unwrap()

    with tcp_peer(handshake) as port:
        yield port
