"""A funder's identity for the Département's teletransmission platform.

What the platform needs to read a declaration as ours (ESPPADOM reference
facts in docs/flows/esppadom-delivery.md): the identifier the platform gave
the funder (not our internal code), its Département, the aid type from the
EDESS list ``ESPPADOM_TYPE_AIDE``, and the funder's local service codes,
which travel under the funder's own list. Held on ``ledger.models.Funder``,
edited in the extranet's administration and with ``telegestion billing
funders set``; both go through ``set_identity`` here, so the rules are the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import Funder as FunderRow
from ledger.models import FunderKind
from ledger.service import audit

#: The EDESS list ESPPADOM_TYPE_AIDE as far as the references show it (compani-api:
#: APA, AM for the household help of the Département's social aid, PCH). A value
#: under listAgencyName="EDESS" must exist in the EDESS list, so no other value is accepted.
EDESS_AID_TYPES: dict[str, str] = {
    "APA": "Allocation personnalisée d'autonomie",
    "AM": "Aide ménagère (aide sociale du Département)",
    "PCH": "Prestation de compensation du handicap",
}

#: The aid type of each Département funder kind when none is set: both kinds of
#: social aid (elderly, disabled) are household help (AM).
DEFAULT_AID_TYPES: dict[FunderKind, str] = {
    FunderKind.APA: "APA",
    FunderKind.ASL_ELDERLY: "AM",
    FunderKind.ASL_DISABLED: "AM",
    FunderKind.PCH: "PCH",
}

_PLATFORM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,59}$")
_DEPARTEMENT = re.compile(r"^(0[1-9]|1[0-9]|2[1-9]|[3-8][0-9]|9[0-5]|2A|2B|97[1-6])$")
_SERVICE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")


class FunderIdentityError(ValueError):
    """An identity value refused; the message says which and why (French)."""


@dataclass(frozen=True, slots=True)
class FunderIdentity:
    """Plain view of a funder for declarations (no ORM object leaves the ledger)."""

    code: str
    name: str
    kind: str
    platform_id: str = ""
    departement_code: str = ""
    #: As stored; ``effective_aid_type`` applies the kind's default.
    aid_type: str = ""
    service_codes: Mapping[str, str] = field(default_factory=dict)

    @property
    def departement(self) -> bool:
        return FunderKind(self.kind).is_departement

    @property
    def effective_aid_type(self) -> str:
        return self.aid_type or DEFAULT_AID_TYPES.get(FunderKind(self.kind), "")

    def local_service_code(self, service_code: str) -> str:
        return self.service_codes.get(service_code, "")

    @property
    def missing(self) -> tuple[str, ...]:
        """What keeps declarations to this funder from leaving (French), empty when nothing."""
        reasons = []
        if not self.platform_id:
            reasons.append("identifiant attribué par la plateforme du Département manquant")
        if self.effective_aid_type not in EDESS_AID_TYPES:
            reasons.append("type d'aide EDESS manquant")
        return tuple(reasons)


def identity_of(row: FunderRow) -> FunderIdentity:
    return FunderIdentity(
        code=row.code,
        name=row.name,
        kind=row.kind.value,
        platform_id=row.platform_id or "",
        departement_code=row.departement_code or "",
        aid_type=row.aid_type or "",
        service_codes=dict(row.service_codes or {}),
    )


def identities(session: Session) -> dict[str, FunderIdentity]:
    """Every funder's identity, by funder code."""
    return {f.code: identity_of(f) for f in session.scalars(select(FunderRow))}


def parse_service_codes(text: str) -> dict[str, str]:
    """``"APA-AIDE=AD01, PCH-AIDE=PH02"`` -> {"APA-AIDE": "AD01", "PCH-AIDE": "PH02"}."""
    codes: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in re.split(r"[,;\n]", text))):
        ours, sep, theirs = (p.strip() for p in item.partition("="))
        if not sep or not _SERVICE_CODE.match(ours) or not _SERVICE_CODE.match(theirs):
            raise FunderIdentityError(
                f"code de prestation illisible : {item!r} (attendu CODE=CODE_LOCAL, "
                "lettres, chiffres, . _ -, 20 caractères au plus)"
            )
        if ours in codes:
            raise FunderIdentityError(f"prestation {ours} donnée deux fois")
        codes[ours] = theirs
    return codes


def format_service_codes(codes: Mapping[str, str]) -> str:
    return ", ".join(f"{ours}={theirs}" for ours, theirs in sorted(codes.items()))


def clean_identity(
    kind: FunderKind,
    *,
    platform_id: str,
    departement_code: str,
    aid_type: str,
    service_codes: Mapping[str, str] | str,
) -> dict[str, Any]:
    """Check and normalise identity values; raise ``FunderIdentityError`` on the first bad one."""
    platform_id = platform_id.strip()
    departement_code = departement_code.strip().upper()
    aid_type = aid_type.strip().upper()
    if platform_id and not _PLATFORM_ID.match(platform_id):
        raise FunderIdentityError(
            f"identifiant de plateforme refusé : {platform_id!r} (lettres, chiffres, . _ / -, "
            "60 caractères au plus)"
        )
    if departement_code and not _DEPARTEMENT.match(departement_code):
        raise FunderIdentityError(
            f"code de Département refusé : {departement_code!r} "
            "(01 à 95 sauf 20, 2A, 2B, 971 à 976)"
        )
    if aid_type and aid_type not in EDESS_AID_TYPES:
        raise FunderIdentityError(
            f"type d'aide refusé : {aid_type!r} (liste EDESS : {', '.join(EDESS_AID_TYPES)})"
        )
    if not kind.is_departement and (platform_id or aid_type):
        raise FunderIdentityError(
            "seuls les financeurs départementaux (APA, ASL, PCH) sont télétransmis"
        )
    codes = (
        parse_service_codes(service_codes)
        if isinstance(service_codes, str)
        else parse_service_codes(format_service_codes(service_codes))
    )
    return {
        "platform_id": platform_id,
        "departement_code": departement_code,
        "aid_type": aid_type,
        "service_codes": codes,
    }


def set_identity(
    session: Session,
    funder: FunderRow,
    *,
    author: str,
    platform_id: str,
    departement_code: str,
    aid_type: str,
    service_codes: Mapping[str, str] | str,
) -> bool:
    """Check, store and audit a funder's identity; return whether anything changed.

    The caller owns the transaction. Raises ``FunderIdentityError`` (nothing written).
    """
    values = clean_identity(
        funder.kind,
        platform_id=platform_id,
        departement_code=departement_code,
        aid_type=aid_type,
        service_codes=service_codes,
    )
    before = {name: getattr(funder, name) for name in values}
    before["service_codes"] = dict(before["service_codes"] or {})
    if before == values:
        return False
    for name, value in values.items():
        setattr(funder, name, value)
    audit(
        session,
        author,
        "funder.identity_changed",
        "funder",
        funder.code,
        before=before,
        after=values,
    )
    session.flush()
    return True
