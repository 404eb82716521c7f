"""The report in a real browser (Debian's headless Chromium), and a report written by an
interrupted run. Certificates come from the lab PKI, served by the lab's real TLS server."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization

from dualcert.compare.results_file import load_document
from dualcert.lab.pki import CA, KeySpec
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.probe.tls import server_context
from dualcert.rules.registry import Scope, rules_of

from .browser import dump_dom, screenshot
from .conftest import REPO, debian_binary, run_cli
from .peers import tarpit, tcp_peer

XSS_CN = "<script>alert(1)</script>"
# X.509 caps CN and O at 64 characters each.
XSS_ORG = "Evil \"Corp\" & Sons <b>bold</b> <img src=x onerror=alert(2)>"
XSS_ISSUER = "\"><img src=x onerror=\"document.title='PWNED'\">"
HOST = "xss.lab.dualcert.test"


@pytest.fixture(scope="module")
def chromium() -> str:
    return debian_binary("chromium", "chromium")


def serve_one(tmp_path: Path, issued: Any) -> LabServer:
    chain = issued.write(tmp_path, "leaf")
    endpoint = ServedEndpoint(server_context([chain]), domain=HOST)
    return LabServer([endpoint], workers=4)  # started by `with`


def write_inventory(tmp_path: Path, site: str, nodes: dict[str, dict[str, int]], trust: Path | None = None) -> Path:
    lines = [f"site: {site}"] + ([f"trust: {trust}"] if trust else []) + ["nodes:"]
    for name, services in nodes.items():
        lines += [f"  - name: {name}", f"    host: {HOST}", "    address: 127.0.0.1", "    services:"]
        lines += [f"      - {{name: {service}, port: {port}}}" for service, port in services.items()]
    path = tmp_path / f"{site}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def title_of(dom: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", dom, re.S)
    assert match
    return match.group(1)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit PNG (enough to look at a screenshot's colours)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, b = line[i - bpp] if i >= bpp else 0, prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3)))
        prev = line
    return width, height, rows


# ------------------------------------------------------------------ hostile certificate

def test_certificate_strings_render_as_text_and_never_run(tmp_path: Path, chromium: str) -> None:
    ca = CA.root(XSS_ISSUER, KeySpec.ec(), organization=XSS_ORG)
    (tmp_path / "ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    leaf = ca.issue([HOST], KeySpec.ec(), common_name=XSS_CN, organization=XSS_ORG)
    with serve_one(tmp_path, leaf) as server:
        inventory = write_inventory(tmp_path, "xss", {"xss": {"web": server.endpoints[0].port}},
                                    trust=tmp_path / "ca.pem")
        result = run_cli("run", "--inventory", str(inventory), cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    report = tmp_path / "reports" / "xss.html"
    tests = len(json.loads((tmp_path / "reports" / "xss.json").read_text())["tests"])

    dom = dump_dom(chromium, report, "dcdetails=open")
    # The page's own scripts did run (pytest-html rendered every row, ours filled the details) ...
    assert f'data-dc-rows="{tests}"' in dom
    assert 'class="dc-chain"' in dom and "-----BEGIN CERTIFICATE-----" in dom
    # ... and none from the certificate: no title change, no element made from certificate text.
    assert title_of(dom) == "dualcert compliance: xss"
    assert "PWNED" not in title_of(dom)
    assert not re.search(r"<img[^>]*onerror", dom)
    assert XSS_CN not in dom and "<b>bold</b>" not in dom
    # The text is there, literally (a serialized text node escapes <, > and &).
    literal_cn = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert dom.count(literal_cn) >= 3            # chain table, timeline, test log
    # Subjects show as RFC 4514 strings, which backslash-escape quotes and angle brackets.
    assert 'O=Evil \\"Corp\\" &amp; Sons \\&lt;b\\&gt;bold\\&lt;/b\\&gt; \\&lt;img src=x onerror=alert(2)\\&gt;' in dom
    matrix = dom[dom.index('id="dc-matrix"'):dom.index('id="dc-timeline"')]
    assert "\"&gt;&lt;img src=x onerror=\"document.title='PWNED'\"&gt;" in matrix   # the issuer's CN


# ------------------------------------------------------------------ the lab report

@pytest.fixture(scope="module")
def lab_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    cwd = tmp_path_factory.mktemp("labbrowser")
    result = run_cli("lab", cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return cwd / "reports" / "lab.html", load_document(cwd / "reports" / "lab.json")


def test_lab_report_first_screen_is_the_matrix(lab_report: tuple[Path, dict[str, Any]], chromium: str,
                                               tmp_path: Path) -> None:
    report, _ = lab_report
    shot = screenshot(chromium, report, tmp_path / "lab-first-screen.png")
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1400, 1000) and shot.stat().st_size > 20_000
    pixels = b"".join(rows)
    fail_pink = sum(1 for i in range(0, len(pixels), 3) if pixels[i:i + 3] == b"\xf8\xd7\xda")
    pass_green = sum(1 for i in range(0, len(pixels), 3) if pixels[i:i + 3] == b"\xd1\xe7\xdd")
    # The matrix's failing (S1, S2) and passing cells fill a good part of the first screen.
    assert fail_pink > 50_000 and pass_green > 5_000, (fail_pink, pass_green)
    dom = dump_dom(chromium, report)
    top = dom[:dom.index('id="results-table"')]
    assert 'Diagnosed state <span class="dc-state">S2</span> (intended S3)' in top
    assert '<th class="dc-node">s4-uccx-sub <span class="dc-state">S4</span>' in top


def test_lab_report_filters_by_node_service_offer_version(lab_report: tuple[Path, dict[str, Any]],
                                                          chromium: str) -> None:
    report, data = lab_report
    failed = sum(1 for t in data["tests"] if t["outcome"] == "failed")
    first = dump_dom(chromium, report)
    # More tests than the page renders at once: the first 1,000, failures first, and it says so.
    assert len(data["tests"]) > 1000 and 'data-dc-rows="1000"' in first
    assert first.count('class="results-table-row failed"') == failed
    assert f"Showing 1000 of {len(data['tests'])} tests (failures first)" in first
    everything = dump_dom(chromium, report, "dcall=1")
    assert f'data-dc-rows="{len(data["tests"])}"' in everything
    cell = dump_dom(chromium, report, "dcnode=s2-sm&dcservice=openfire")
    assert f'data-dc-rows="{len(rules_of(Scope.PROBE)) * 3 * 2}"' in cell   # probe rules x 3 offers x 2 versions
    assert "s2-sm:openfire:ecdsa:tls1.3" in cell and "s3-sm:openfire" not in cell.split('id="results-table"')[1]
    expected = sum(1 for t in data["tests"] if ":ecdsa:tls1.3" in t["id"] and t["outcome"] == "failed")
    only_failed = dump_dom(chromium, report, "dcoffer=ecdsa&dcversion=tls1.3&visible=failed")
    assert f'data-dc-rows="{expected}"' in only_failed and expected > 0


def test_endpoint_report_filters_keep_endpoint_tests(chromium: str, tmp_path: Path) -> None:
    """--dualcert-items endpoint: test ids are node:service; the matrix link shows that one test,
    an offer or version filter keeps every endpoint test (each covers every offer and version)."""
    result = run_cli("lab", "--states", "S2,S3", "--no-collab", "--", "--dualcert-items", "endpoint", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = tmp_path / "reports" / "lab.html"
    data = load_document(tmp_path / "reports" / "lab.json")
    endpoint_tests = {t["nodeid"] for t in data["tests"] if "test_endpoint_rules[" in t["nodeid"]}
    cell = dump_dom(chromium, report, "dcnode=s2-sm&dcservice=openfire")
    assert 'data-dc-rows="1"' in cell and "test_endpoint_rules[s2-sm:openfire]" in cell
    by_offer = dump_dom(chromium, report, "dcoffer=ecdsa&dcversion=tls1.3")
    assert f'data-dc-rows="{len(endpoint_tests)}"' in by_offer and len(endpoint_tests) > 1
    # A passing endpoint's one placeholder opens onto each of its probes' TLS, chain and PEMs.
    flagged = {t["nodeid"] for t in data["tests"] if t["status"] in ("fail", "warn")}
    nodeid = sorted(endpoint_tests - flagged)[0]
    node, service = nodeid[nodeid.index("[") + 1:-1].split(":")
    probes = [p for p in data["probes"] if (p["node"], p["service"]) == (node, service)]
    opened = dump_dom(chromium, report, f"dcnode={node}&dcservice={service}&dcdetails=open")
    assert 'data-dc-rows="1"' in opened and "every rule passes on 6 probe(s)" in opened
    for probe in probes:
        assert f"<h4>{node}:{service}:{probe['offer']}:{probe['tls_version']}</h4>" in opened
    assert opened.count('class="dc-chain"') == len(probes) == 6
    assert "-----BEGIN CERTIFICATE-----" in opened


# ------------------------------------------------------------------ interrupted run

def test_sigint_halfway_leaves_valid_json_and_a_report_marked_interrupted(tmp_path: Path) -> None:
    ca = CA.root("dualcert Test EC Root CA", KeySpec.ec())
    leaf = ca.issue([HOST], KeySpec.ec())
    with serve_one(tmp_path, leaf) as server, tcp_peer(tarpit) as slow1, tcp_peer(tarpit) as slow2:
        inventory = write_inventory(tmp_path, "cut", {"fast": {"web": server.endpoints[0].port},
                                                      "slow": {"a": slow1, "b": slow2}})
        process = subprocess.Popen([sys.executable, "-m", "dualcert.cli", "run", "--inventory", str(inventory), "--",
                                    "--handshake-timeout", "8"], cwd=tmp_path, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ})
        journal = tmp_path / "reports" / "cut.json.partial.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = journal.read_text().splitlines() if journal.exists() else []
            if sum('"node": "fast"' in line for line in lines) == 6:
                break
            time.sleep(0.1)
        else:
            process.kill()
            pytest.fail("the fast endpoint's probes never landed in the journal")
        process.send_signal(signal.SIGINT)
        # The reports are written at once; the process itself exits when the probes still in
        # flight reach their handshake timeout (the probe pool's threads are joined at exit).
        out, err = process.communicate(timeout=60)
    assert process.returncode == 2, out[-2000:] + err[-2000:]
    schema = json.loads((REPO / "schema" / "results.schema.json").read_text())
    jsonschema.validate(json.loads((tmp_path / "reports" / "cut.json").read_text()), schema,
                        format_checker=jsonschema.FormatChecker())
    data = load_document(tmp_path / "reports" / "cut.json")
    assert data["run"]["status"] == "interrupted"
    assert {p["node"] for p in data["probes"]} == {"fast"}                 # the slow ones never finished
    assert len(data["probes"]) == 6
    html = (tmp_path / "reports" / "cut.html").read_text()
    assert 'id="dc-interrupted"' in html and "Run interrupted" in html and "status <b>interrupted</b>" in html
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["cut.html", "cut.json"]
