"""Stage 3, probing: real TLS handshakes with restricted offers; the only package that touches the network."""
