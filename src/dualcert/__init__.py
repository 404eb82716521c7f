"""dualcert: TLS certificate-policy compliance for dual RSA/ECDSA deployments."""

__version__ = "0.1.0"
