// Verifies conformance cases with webpki 0.22 as rustls 0.20 does (tests/conformance/judges.py).
// One case a line on stdin, tab-separated: id, peer name, validation time (Unix seconds, or "-" for now),
// leaf, intermediates and roots (hex DER, comma-separated). One answer a line on stdout: id, "ok",
// "fail" or "n/a" (webpki 0.22 has no IP address names), and the error.
use std::io::{self, BufRead, Write};
use std::time::{SystemTime, UNIX_EPOCH};

// The algorithms rustls 0.20 accepts for server certificates.
static ALGORITHMS: &[&webpki::SignatureAlgorithm] = &[
    &webpki::ECDSA_P256_SHA256,
    &webpki::ECDSA_P256_SHA384,
    &webpki::ECDSA_P384_SHA256,
    &webpki::ECDSA_P384_SHA384,
    &webpki::ED25519,
    &webpki::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    &webpki::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    &webpki::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    &webpki::RSA_PKCS1_2048_8192_SHA256,
    &webpki::RSA_PKCS1_2048_8192_SHA384,
    &webpki::RSA_PKCS1_2048_8192_SHA512,
    &webpki::RSA_PKCS1_3072_8192_SHA384,
];

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err("odd hex".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn list(field: &str) -> Result<Vec<Vec<u8>>, String> {
    field.split(',').filter(|s| !s.is_empty()).map(unhex).collect()
}

fn verify(fields: &[&str]) -> Result<(), String> {
    if fields[1].parse::<std::net::IpAddr>().is_ok() {
        return Err("n/a".into());
    }
    let leaf = unhex(fields[3])?;
    let intermediates = list(fields[4])?;
    let roots = list(fields[5])?;
    // Like rustls' RootCertStore::add_parsable_certificates, a root that does not parse is left out.
    let anchors: Vec<webpki::TrustAnchor> =
        roots.iter().filter_map(|der| webpki::TrustAnchor::try_from_cert_der(der).ok()).collect();
    let seconds = if fields[2] == "-" {
        SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs()
    } else {
        fields[2].parse::<u64>().map_err(|e| e.to_string())?
    };
    let cert = webpki::EndEntityCert::try_from(leaf.as_slice()).map_err(|e| format!("leaf: {:?}", e))?;
    let chain: Vec<&[u8]> = intermediates.iter().map(|d| d.as_slice()).collect();
    cert.verify_is_valid_tls_server_cert(
        ALGORITHMS,
        &webpki::TlsServerTrustAnchors(&anchors),
        &chain,
        webpki::Time::from_seconds_since_unix_epoch(seconds),
    )
    .map_err(|e| format!("{:?}", e))?;
    let name = webpki::DnsNameRef::try_from_ascii_str(fields[1]).map_err(|e| format!("name: {:?}", e))?;
    cert.verify_is_valid_for_dns_name(name).map_err(|e| format!("{:?}", e))
}

fn main() {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 6 {
            eprintln!("bad input line");
            std::process::exit(2);
        }
        let answer = match verify(&fields) {
            Ok(()) => "ok\t".to_string(),
            Err(e) if e == "n/a" => "n/a\twebpki 0.22 has no IP address names".to_string(),
            Err(e) => format!("fail\t{}", e.replace('\n', " ")),
        };
        writeln!(out, "{}\t{}", fields[0], answer).expect("stdout");
    }
}
