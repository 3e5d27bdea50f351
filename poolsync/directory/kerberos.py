"""Kerberos credentials for ``bind.method: kerberos``, kept in a cache of poolsync's own.

A :class:`KerberosLogin` gets a ticket-granting ticket once per process and keeps it in
a private in-memory credential cache (``MEMORY:poolsync-<random>``): nothing is written
to disk, the user's own cache is never written to, and the cache goes with the process.

* **keytab** (with ``principal``): the keytab is checked first like a password file
  (a regular file only its owner may read) and must hold the principal; the ticket is
  got from it, and got again before it would run out during a pass (``renew_margin``):
  a service runs for months on one keytab.
* **ccache**: the ticket a ``kinit`` (or the login) left in the user's cache is copied
  into the private cache, so the service tickets poolsync asks for land there. Such a
  ticket cannot be renewed without a password: when it has run out, the error says so.

The GSS-API errors (MIT Kerberos through the ``gssapi`` package) become one line each
with the cause and the fix (:func:`explain`). Only :mod:`poolsync.directory` imports
``gssapi``, and only when a Kerberos bind is configured.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poolsync.config import KerberosConfig
from poolsync.directory.keytab import KeytabError, principals
from poolsync.errors import (
    AuthError,
    ConfigError,
    DirectoryUnavailable,
    PoolsyncError,
    SecretError,
)
from poolsync.hardening import protect_process
from poolsync.secrets import read_private_file

if TYPE_CHECKING:
    import gssapi

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "bind.method: kerberos needs the gssapi package: pip install 'poolsync[kerberos]' "
    "(it builds against MIT Kerberos: apt-get install libkrb5-dev)"
)

# MIT Kerberos error codes (com_err table krb5, base -1765328384) as the GSS-API minor
# status carries them, unsigned.
_BASE = 2**32 - 1765328384
KDC_ERR_C_PRINCIPAL_UNKNOWN = _BASE + 6
KDC_ERR_S_PRINCIPAL_UNKNOWN = _BASE + 7
KDC_ERR_ETYPE_NOSUPP = _BASE + 14
KDC_ERR_CLIENT_REVOKED = _BASE + 18
KDC_ERR_KEY_EXP = _BASE + 23
KDC_ERR_PREAUTH_FAILED = _BASE + 24
AP_ERR_BAD_INTEGRITY = _BASE + 31
AP_ERR_TKT_EXPIRED = _BASE + 32
AP_ERR_SKEW = _BASE + 37
AP_ERR_MODIFIED = _BASE + 41
KDC_UNREACH = _BASE + 156
REALM_UNKNOWN = _BASE + 154
FCC_NOFILE = _BASE + 195
CC_NOTFOUND = _BASE + 141


def gssapi_module() -> Any:
    """The ``gssapi`` package, or a ConfigError that says how to install it."""
    try:
        import gssapi
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return gssapi


def use_krb5_conf(config: KerberosConfig) -> None:
    """Point MIT Kerberos at the configured krb5.conf (``bind.krb5_conf``) for this
    process, before its first Kerberos call reads the machine's."""
    if config.krb5_conf is not None:
        os.environ["KRB5_CONFIG"] = str(config.krb5_conf)


def check_keytab(config: KerberosConfig) -> None:
    """The keytab is a file only its owner may read, and holds the principal.

    Raises SecretError (exit 2): the fix is in the keytab or the config, not the network.
    """
    assert config.keytab is not None and config.principal is not None
    path = str(config.keytab)

    def error(message: str) -> SecretError:
        return SecretError(f"{config.origin}.keytab: {message}")

    protect_process()  # a keytab is as good as a password: no core dumps from here on
    data = read_private_file(path, what="keytab", error=error)
    try:
        held = principals(data)
    except KeytabError as exc:
        raise error(f"{path} is not a keytab ({exc}); export it again") from None
    if config.principal in held:
        return
    near = [p for p in held if p.lower() == config.principal.lower()]
    if near:
        raise SecretError(
            f"{config.origin}.principal: {config.principal} is not in keytab {path}, "
            f"which holds {near[0]}: principals are case-sensitive; use {near[0]}"
        )
    holds = ", ".join(held) if held else "no principal at all"
    raise SecretError(
        f"{config.origin}.principal: {config.principal} is not in keytab {path} (it holds "
        f"{holds}); export a keytab for {config.principal} or name one it holds"
    )


class KerberosLogin:
    """The Kerberos credentials of one process (module docstring).

    ``renew_margin``: a ticket with less than this left is replaced before the next
    bind (a pass must not outlive its ticket: a DC drops a session whose ticket has
    expired).
    """

    def __init__(
        self,
        config: KerberosConfig,
        *,
        renew_margin: float,
    ) -> None:
        self.config = config
        self.renew_margin = renew_margin
        self._creds: gssapi.Credentials | None = None
        self.cache = ""
        self.acquired = 0  # how many tickets were got (renewals included)

    def credentials(self) -> gssapi.Credentials:
        """Credentials good for at least ``renew_margin`` more seconds."""
        gss = gssapi_module()
        use_krb5_conf(self.config)
        if self._creds is not None:
            try:
                left = self._creds.lifetime
            except gss.exceptions.ExpiredCredentialsError:
                left = 0
            if left >= self.renew_margin:
                return self._creds
            log.info(
                "renewing the Kerberos ticket of %s (%d s left, renewed with %d s to go)",
                self.config.principal or "the credential cache",
                left,
                self.renew_margin,
            )
        try:
            self._creds = self._acquire(gss)
        except gss.exceptions.GSSError as exc:
            raise explain(exc, self.config, what="getting a Kerberos ticket") from None
        self.acquired += 1
        return self._creds

    def _acquire(self, gss: Any) -> gssapi.Credentials:
        cache = f"MEMORY:poolsync-{secrets.token_hex(8)}"
        config = self.config
        if config.keytab is not None:
            check_keytab(config)
            name = gss.Name(config.principal, gss.NameType.kerberos_principal)
            store = {"client_keytab": str(config.keytab), "ccache": cache}
            creds: gssapi.Credentials = gss.Credentials(name=name, usage="initiate", store=store)
        else:
            creds = self._from_user_cache(gss, cache)
        self.cache = cache
        lifetime = creds.lifetime
        if config.keytab is None and lifetime < self.renew_margin:
            log.warning(
                "the Kerberos ticket in %s has %d s left, less than a pass may take "
                "(%d s): run kinit again, or bind with a keytab (bind.keytab)",
                _cache_name(config),
                lifetime,
                self.renew_margin,
            )
        return creds

    def _from_user_cache(self, gss: Any, cache: str) -> gssapi.Credentials:
        """The user's ticket, copied into the private cache ``cache``."""
        config = self.config
        name = (
            gss.Name(config.principal, gss.NameType.kerberos_principal)
            if config.principal
            else None
        )
        store = None if config.ccache == "default" else {"ccache": _ccache(config)}
        theirs = gss.Credentials(name=name, usage="initiate", store=store)
        if theirs.lifetime <= 0:
            raise gss.exceptions.ExpiredCredentialsError(0, AP_ERR_TKT_EXPIRED)
        theirs.store(store={"ccache": cache}, usage="initiate", overwrite=True)
        mine: gssapi.Credentials = gss.Credentials(
            name=theirs.name, usage="initiate", store={"ccache": cache}
        )
        return mine


def _ccache(config: KerberosConfig) -> str:
    name = config.ccache or "default"
    if name != "default" and ":" not in name:
        return f"FILE:{Path(name)}"
    return name


def _cache_name(config: KerberosConfig) -> str:
    if config.ccache == "default":
        return os.environ.get("KRB5CCNAME") or "the default credential cache"
    return _ccache(config)


def explain(exc: Exception, config: KerberosConfig, *, what: str, where: str = "") -> PoolsyncError:
    """One line for a GSS-API error: the cause and the fix (module docstring)."""
    minor = getattr(exc, "min_code", 0) or 0
    principal = config.principal or "the cache's principal"
    realm = principal.rsplit("@", 1)[-1] if "@" in principal else "the realm"
    at = f"{where}: " if where else ""
    conf = f" ({config.krb5_conf})" if config.krb5_conf else ""

    def stale_key() -> PoolsyncError:
        return AuthError(
            f"{at}{what}: the KDC refused the key of {principal}: the account's password "
            "changed since the keytab was exported; export a new keytab"
        )

    messages: dict[int, Callable[[], PoolsyncError]] = {
        KDC_UNREACH: lambda: DirectoryUnavailable(
            f"{at}{what}: no KDC for realm {realm} answers; check the kdc lines of "
            f"krb5.conf{conf} (or DNS _kerberos._tcp.{realm}) and that port 88 is reachable"
        ),
        REALM_UNKNOWN: lambda: ConfigError(
            f"{config.origin}.principal: no KDC is known for realm {realm}: is the realm "
            f"right (AD realms are the domain in capitals)? If it is, add it to "
            f"krb5.conf{conf} [realms] or set bind.krb5_conf"
        ),
        AP_ERR_SKEW: lambda: AuthError(
            f"{at}{what}: clock skew too great: this machine's clock and the DC's differ "
            "by more than Kerberos allows (5 minutes by default); synchronize the clock "
            "(chrony or systemd-timesyncd against the DCs)"
        ),
        KDC_ERR_S_PRINCIPAL_UNKNOWN: lambda: AuthError(
            f"{at}{what}: the KDC knows no service principal for this DC; set "
            "bind.spn_host to the DC's host name as its SPNs hold it (setspn -L <DC>), "
            "or register ldap/<host> for the DC"
        ),
        KDC_ERR_C_PRINCIPAL_UNKNOWN: lambda: AuthError(
            f"{at}{what}: the KDC of {realm} does not know {principal}: check "
            "bind.principal (the account may have been deleted or renamed)"
        ),
        KDC_ERR_PREAUTH_FAILED: stale_key,
        AP_ERR_BAD_INTEGRITY: stale_key,
        KDC_ERR_CLIENT_REVOKED: lambda: AuthError(
            f"{at}{what}: the account {principal} is disabled, locked out or expired"
        ),
        KDC_ERR_KEY_EXP: lambda: AuthError(
            f"{at}{what}: the password of {principal} has expired; reset it and export a new keytab"
        ),
        KDC_ERR_ETYPE_NOSUPP: lambda: AuthError(
            f"{at}{what}: the KDC and this machine share no encryption type for "
            f"{principal} (msDS-SupportedEncryptionTypes; permitted_enctypes in krb5.conf)"
        ),
        AP_ERR_TKT_EXPIRED: lambda: AuthError(
            f"{at}{what}: the Kerberos ticket in {_cache_name(config)} has expired; run "
            "kinit again, or bind with a keytab (bind.keytab), which poolsync renews"
        ),
        AP_ERR_MODIFIED: lambda: AuthError(
            f"{at}{what}: the DC could not decrypt the service ticket: its keys differ "
            "from the KDC's (a DC restored or re-joined, or bind.spn_host names another "
            "host)"
        ),
        FCC_NOFILE: lambda: AuthError(
            f"{at}{what}: no Kerberos ticket in {_cache_name(config)}; run kinit as the "
            "user poolsync runs as, or bind with a keytab (bind.keytab)"
        ),
        CC_NOTFOUND: lambda: AuthError(
            f"{at}{what}: no ticket for {principal} in {_cache_name(config)}; run kinit "
            f"{principal}, or bind with a keytab (bind.keytab)"
        ),
    }
    known = messages.get(minor)
    if known is not None:
        return known()
    if type(exc).__name__ == "ExpiredCredentialsError":
        return messages[AP_ERR_TKT_EXPIRED]()
    text = exc.gen_message() if hasattr(exc, "gen_message") else str(exc)
    return AuthError(f"{at}{what} failed: {' '.join(str(text).split())}")
