"""The lab's read-only service account for poolsync, its keytab, and Kerberos setup.

Built into the first DC's sam.ldb while it is stopped, like the rest of the lab:

* ``poolsync-svc``: an ordinary domain user (Domain Users only) with a random password
  (``secrets/poolsync-svc.password``, 0600, for NTLM binds) and, as docs/security.md
  asks for incremental runs, List Contents and Read Property on ``CN=Deleted Objects``;
  nothing more. Every other read it needs, Authenticated Users have.
* its keytab, ``secrets/poolsync-svc.keytab`` (0600), exported by samba-tool;
* the DC's LDAP service principals (``ldap/<host>`` and the others an AD DC registers),
  which a Samba DC provisioned without its DNS update service lacks;
* ``krb5.conf`` of the lab's own (its realm, its KDCs by address, no DNS lookups), which
  only poolsync's Kerberos config names: the machine's Kerberos setup is never touched.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from poolsync.errors import LabError
from poolsync.lab import samba
from poolsync.outfile import write_atomic

USER = "poolsync-svc"
KEYTAB_FILE = "secrets/poolsync-svc.keytab"
PASSWORD_FILE = "secrets/poolsync-svc.password"  # noqa: S105 (a path, not a secret)
KRB5_FILE = "krb5.conf"


def principal(forest: str) -> str:
    return f"{USER}@{forest.upper()}"


def krb5_conf_text(forest: str, kdcs: Sequence[str]) -> str:
    """A krb5.conf for the lab's realm: its KDCs by address, no DNS or reverse lookups
    (the lab's names are in no DNS), and no canonicalization of the DCs' host names."""
    realm = forest.upper()
    lines = "".join(f"        kdc = {address}\n" for address in kdcs)
    return (
        "# Written by `poolsync lab up`: the lab's realm, for poolsync-kerberos.yaml.\n"
        "[libdefaults]\n"
        f"    default_realm = {realm}\n"
        "    dns_lookup_realm = false\n    dns_lookup_kdc = false\n    rdns = false\n"
        "    dns_canonicalize_hostname = false\n"
        "[realms]\n"
        f"    {realm} = {{\n{lines}    }}\n"
        f"    {forest.lower()} = {{\n{lines}    }}\n"
        "[domain_realm]\n"
        f"    .{forest.lower()} = {realm}\n    {forest.lower()} = {realm}\n"
    )


def dc_spns(host: str, netbios_name: str, forest: str, netbios_domain: str) -> list[str]:
    """The LDAP service principals an AD DC registers for itself."""
    forest = forest.lower()
    return [
        f"ldap/{host}",
        f"ldap/{host}/{forest}",
        f"ldap/{host}/{netbios_domain}",
        f"ldap/{netbios_name.upper()}",
        f"ldap/{netbios_name.upper()}/{netbios_domain}",
        f"GC/{host}/{forest}",
    ]


def add_dc_spns(paths: samba.DcPaths, *, dc_dn: str, spns: Sequence[str]) -> None:
    samba.ldb_modify(
        paths,
        f"dn: {dc_dn}\nchangetype: modify\nadd: servicePrincipalName\n"
        + "".join(f"servicePrincipalName: {spn}\n" for spn in spns)
        + "-\n",
        what="registering the DC's LDAP service principals",
    )


def create(paths: samba.DcPaths, lab_dir: Path, *, forest: str, base_dn: str) -> None:
    """Add the account to the stopped DC, grant it Deleted Objects, export its keytab."""
    password = "Svc-" + secrets.token_urlsafe(18) + "-7b"
    dn = f"CN={USER},CN=Users,{base_dn}"
    samba.ldb_add(
        paths,
        f"dn: {dn}\nobjectClass: user\nsAMAccountName: {USER}\n"
        f"userPrincipalName: {principal(forest)}\n"
        "userAccountControl: 66048\n",  # a normal account whose password does not expire
        what=f"adding the service account {USER}",
    )
    samba.set_password(paths, dn=dn, password=password, what=f"setting {USER}'s password")
    write_atomic(lab_dir / PASSWORD_FILE, password, mode=0o600, error=LabError)
    sid = _sid(paths, dn)
    _grant_deleted_objects(paths, base_dn, sid)
    keytab = lab_dir / KEYTAB_FILE
    keytab.unlink(missing_ok=True)
    samba.run(
        [
            "samba-tool",
            "domain",
            "exportkeytab",
            str(keytab),
            f"--principal={principal(forest)}",
            "-s",
            str(paths.conf),
        ],
        what=f"exporting the keytab of {USER}",
    )
    keytab.chmod(0o600)


def _sid(paths: samba.DcPaths, dn: str) -> str:
    out = samba.ldb_search(paths, dn, "objectSid", what=f"reading the SID of {USER}")
    found = re.search(r"^objectSid: (S-1-[0-9-]+)$", out, re.MULTILINE)
    if found is None:
        raise LabError(f"{dn} has no objectSid after it was added")
    return found.group(1)


def _grant_deleted_objects(paths: samba.DcPaths, base_dn: str, sid: str) -> None:
    """List Contents and Read Property on the domain's Deleted Objects container (what
    ``dsacls ... /G DOMAIN\\poolsync-svc:LCRP`` does on Windows; samba-tool dsacl
    cannot reach a deleted-objects container)."""
    container = f"CN=Deleted Objects,{base_dn}"
    out = samba.ldb_search(
        paths,
        container,
        "nTSecurityDescriptor",
        what="reading the Deleted Objects container's security descriptor",
        show_deleted=True,
    )
    found = re.search(r"^nTSecurityDescriptor: (\S+)$", out, re.MULTILINE)
    if found is None or "D:" not in found.group(1):
        raise LabError(f"{container} has no readable security descriptor")
    owner_dacl, _, sacl = found.group(1).partition("S:")
    granted = f"{owner_dacl}(A;;LCRP;;;{sid})" + (f"S:{sacl}" if sacl else "")
    samba.ldb_modify(
        paths,
        f"dn: {container}\nchangetype: modify\nreplace: nTSecurityDescriptor\n"
        f"nTSecurityDescriptor: {granted}\n-\n",
        what="granting the service account read on Deleted Objects",
        show_deleted=True,
    )
