"""The Unity license parameters a license file may set, and the built-in licenses.

The names are Unity's own [confirmed: the Unity MIB and the effective-license XML,
see docs/licenses.md]. Which of them a license file carries as FEATURE/INCREMENT
names, and what the built-in default license and a demo license grant parameter by
parameter, is poolsync's model of the seed FAQ's prose ("two ports, 10 users, 30
seconds message length"; "50 users with 16 sessions").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from poolsync.attachment import (
    POOLING_ENABLED,
    SECONDARY_LICENSED,
    SUBSCRIBERS_MAX,
    UM_SUBSCRIBERS_MAX,
    VMI_SUBSCRIBERS_MAX,
    VOICE_PORTS_MAX,
)

__all__ = [
    "COUNTERS",
    "DEFAULT_LICENSE",
    "DEFAULT_MESSAGE_SECONDS",
    "DEMO_PORTS",
    "DEMO_SUBSCRIBERS",
    "FLAGS",
    "MAX_COUNT",
    "MAX_MSG_REC_LEN",
    "PARAMETERS",
    "TTS_SESSIONS_MAX",
    "is_flag",
    "suggest",
]

TTS_SESSIONS_MAX: Final = "LicTTSSessionsMax"
LANGUAGES_MAX: Final = "LicLanguagesMax"
BRIDGE_SESSIONS_MAX: Final = "LicBridgeSessionsMax"
AMIS_LICENSED: Final = "LicAMISIsLicensed"
VPIM_LICENSED: Final = "LicVPIMIsLicensed"
MAX_MSG_REC_LEN: Final = "LicMaxMsgRecLenIsLicensed"

#: Counters: the count is the number of seats, ports or sessions.
COUNTERS: Final = (
    SUBSCRIBERS_MAX,
    UM_SUBSCRIBERS_MAX,
    VMI_SUBSCRIBERS_MAX,
    VOICE_PORTS_MAX,
    TTS_SESSIONS_MAX,
    LANGUAGES_MAX,
    BRIDGE_SESSIONS_MAX,
)

#: Flags: the count is 1 (licensed/enabled) or 0.
FLAGS: Final = (
    AMIS_LICENSED,
    VPIM_LICENSED,
    MAX_MSG_REC_LEN,
    POOLING_ENABLED,
    SECONDARY_LICENSED,
)

#: Every parameter a license file may name, in display order.
PARAMETERS: Final = COUNTERS + FLAGS

#: A count above this is refused: no Unity server has a million of anything, and a
#: bound keeps a typo (an extra zero run) from reading as a plausible license.
MAX_COUNT: Final = 1_000_000

#: Without ``LicMaxMsgRecLenIsLicensed`` a recorded message is cut at 30 seconds
#: [model of the FAQ's "30 seconds message length"]. With it, the length is whatever
#: the administrator configures; the license sets no limit.
DEFAULT_MESSAGE_SECONDS: Final = 30

#: The built-in default license (commserver\licenses, "non-expiring ... two ports, 10
#: users, 30 seconds message length") [confirmed numbers, model mapping]: every
#: parameter not listed is 0 / off, so pooling is not enabled.
DEFAULT_LICENSE: Final[Mapping[str, int]] = MappingProxyType(
    {
        **dict.fromkeys(PARAMETERS, 0),
        SUBSCRIBERS_MAX: 10,
        VOICE_PORTS_MAX: 2,
        MAX_MSG_REC_LEN: 0,
    }
)

#: What a demo file grants ("50 users with 16 sessions") [confirmed numbers]. Used by
#: the examples and the docs; a demo file is recognized by HOSTID=ANY, not by these.
DEMO_SUBSCRIBERS: Final = 50
DEMO_PORTS: Final = 16

_BY_FOLDED: Final = {name.lower(): name for name in PARAMETERS}


def is_flag(name: str) -> bool:
    return name in FLAGS


def suggest(name: str) -> str | None:
    """The known parameter *name* was probably meant to be, or None."""
    folded = _BY_FOLDED.get(name.lower())
    if folded is not None:
        return folded
    close = difflib.get_close_matches(name, PARAMETERS, n=1, cutoff=0.8)
    return close[0] if close else None
