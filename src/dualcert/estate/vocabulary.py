"""The words a role's remediation text is built from: its certificates' names, where they are managed,
what restarts, how ECDSA is turned off, who is affected (catalog `vocabulary:` of a role).

A Cisco VOS role speaks Cisco's words: certificate *slots* named bare ("generate a tomcat-ECDSA CSR",
"upload the EC root as tomcat-trust"), Cisco Unified OS Administration, the ECDSA-disable COP. Any
other server (role `generic`: nginx, Apache, F5, a Java server) gets plain words: "the server's ECDSA
certificate", "your CA", "reload the server", "clients". The sentences live in rules/remedies.py; this
module only says how each part reads, so no sentence pastes a name into the wrong grammar.
"""

from __future__ import annotations

from dataclasses import dataclass

# Cisco Unified OS Administration's certificate page, where VOS certificates are generated and uploaded
# (Cisco, "Configure the UCCX solution for ECDSA certificates", UCCX 11.5; the same page on every VOS product).
VOS_CERTIFICATE_PAGE = "Cisco Unified OS Administration > Security > Certificate Management"


def article(word: str) -> str:
    """'a' or 'an' before `word` (by its first letter: the catalog's names are English words and slot
    names such as tomcat, CallManager, cup-xmpp, ipsec)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


@dataclass(frozen=True)
class Vocabulary:
    vos: bool = True                   # a Cisco VOS appliance: OS Administration, COPs, -trust stores
    manage: str | None = VOS_CERTIFICATE_PAGE   # where certificates are generated and uploaded
    restart: str | None = None         # how the services that present a certificate are restarted
    disable_ecdsa: str = "install the ECDSA-disable COP"           # stop presenting the ECDSA certificate
    enable_ecdsa: str = "install the rollback COP"                 # undo that
    users: str = "users"               # who is affected: agents, users, clients
    prompt: str | None = None          # what a self-signed certificate beside a CA-signed one does to them
    digest: bool = False               # the UCCX ECDSA digest's agent experience applies (UCCX, SocialMiner)

    def unit(self, name: str) -> Unit:
        return Unit(name, self)

    @property
    def self_signed_prompt(self) -> str:
        return self.prompt or f"{self.users} are asked to accept it"

    def restart_step(self, unit: Unit) -> str:
        return self.restart or f"restart the services that present {unit}"


VOS = Vocabulary()
GENERIC = Vocabulary(vos=False, manage=None, restart="reload the server",
                     disable_ecdsa="remove the ECDSA certificate from the server's TLS configuration",
                     enable_ecdsa="configure the ECDSA certificate beside the RSA one", users="clients")


@dataclass(frozen=True)
class Unit:
    """One certificate of a role, and the phrases remediation text uses it in."""

    name: str                  # a slot ("tomcat-ECDSA", "cup-xmpp") or a common noun ("ECDSA certificate")
    words: Vocabulary

    @property
    def slot(self) -> bool:
        """A named slot, used bare; a name that ends in "certificate" is a common noun ("the server's ...")."""
        return not self.name.endswith("certificate")

    def __str__(self) -> str:
        return self.name if self.slot else f"the server's {self.name}"

    @property
    def csr(self) -> str:
        """'a tomcat-ECDSA CSR' / 'a CSR for the server's ECDSA certificate'."""
        return f"{article(self.name)} {self.name} CSR" if self.slot else f"a CSR for {self}"

    @property
    def where(self) -> str:
        """' (Cisco Unified OS Administration > ...)' after a step that happens on that page, or ''."""
        return f" ({self.words.manage})" if self.words.manage else ""

    @property
    def trust_store(self) -> str | None:
        """The VOS trust store of the unit's issuers: tomcat-ECDSA -> tomcat-trust; None elsewhere."""
        if not self.words.vos:
            return None
        base = self.name.removesuffix("-ECDSA")
        return f"{base}-trust" if base and " " not in base else None

    def upload(self, what: str = "the signed certificate") -> str:
        """'upload the signed certificate as tomcat-ECDSA' / 'install the signed certificate as the server's ...'."""
        return f"upload {what} as {self}" if self.slot else f"install {what} as {self}"

    def upload_chain(self, what: str) -> str:
        """Where CA certificates for the chain go: the VOS -trust store, or the server's chain file."""
        store = self.trust_store
        return f"upload {what} to {store}" if store else f"add {what} to the server's certificate chain"

    def upload_root(self, root: str) -> str:
        """Where the issuing root goes: the VOS -trust store, or the clients' trust stores."""
        store = self.trust_store
        if store:
            return f"upload {root} (and any intermediate) as {store}"
        return f"install the intermediate with the certificate and make sure clients trust {root}"
