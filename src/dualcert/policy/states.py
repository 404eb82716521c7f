"""The deployment states of Cisco's note "Configure the UCCX solution for ECDSA certificates" (UCCX 11.5).

S1: tomcat and tomcat-ECDSA self-signed; S2: tomcat-ECDSA signed by an RSA CA (CSCvb58580);
S3: both CA-signed, tomcat-ECDSA by an EC CA (best practice); S4: tomcat CA-signed, tomcat-ECDSA
self-signed; rsa-only: the ECDSA-disable COP is installed (only RSA is presented).
"""

STATES = ("S1", "S2", "S3", "S4", "rsa-only")
# `intended_state: none`: no state of the note is intended (a server outside them, e.g. ECDSA only);
# the cluster's state is still measured and shown, and the deployment_state test does not apply.
NO_STATE = "none"


def meets(state: str, intended: str) -> bool:
    """A measured deployment state is what was intended (`none` intends no state: anything meets it)."""
    return intended in (state, NO_STATE)
