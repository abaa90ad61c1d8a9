"""A funder's identity for the Département's platform: what is accepted, stored and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.funders import (
    FunderIdentityError,
    clean_identity,
    identities,
    parse_service_codes,
    set_identity,
)
from ledger.models import AuditEntry, FunderKind
from tests import factories


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        (FunderKind.APA, {"aid_type": "ASL_PA"}, "type d'aide refusé"),
        (FunderKind.APA, {"departement_code": "20"}, "code de Département refusé"),
        (FunderKind.APA, {"platform_id": "<script>"}, "identifiant de plateforme refusé"),
        (FunderKind.APA, {"service_codes": "APA-AIDE"}, "code de prestation illisible"),
        (FunderKind.APA, {"service_codes": "A=1, A=2"}, "donnée deux fois"),
        (FunderKind.PENSION_FUND, {"platform_id": "X1"}, "financeurs départementaux"),
    ],
)
def test_bad_values_are_refused(kind: FunderKind, values: dict[str, str], message: str) -> None:
    fields = {"platform_id": "", "departement_code": "", "aid_type": "", "service_codes": ""}
    with pytest.raises(FunderIdentityError, match=message):
        clean_identity(kind, **{**fields, **values})


def test_values_are_normalised() -> None:
    assert clean_identity(
        FunderKind.ASL_DISABLED,
        platform_id=" CD75-ASL ",
        departement_code="2a",
        aid_type="am",
        service_codes="ASL-AIDE = AM01; MENAGE=AM02",
    ) == {
        "platform_id": "CD75-ASL",
        "departement_code": "2A",
        "aid_type": "AM",
        "service_codes": {"ASL-AIDE": "AM01", "MENAGE": "AM02"},
    }
    assert parse_service_codes("") == {}


def test_set_identity_stores_and_audits(session: Session) -> None:
    funder = factories.funder(session, FunderKind.PCH, code="PCH75")
    assert identities(session)["PCH75"].missing
    changed = set_identity(
        session,
        funder,
        author="admin",
        platform_id="CD75-PCH",
        departement_code="75",
        aid_type="",
        service_codes="PCH-AIDE=PH01",
    )
    session.commit()
    identity = identities(session)["PCH75"]
    assert changed and not identity.missing
    assert (
        identity.effective_aid_type == "PCH" and identity.local_service_code("PCH-AIDE") == "PH01"
    )
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "funder.identity_changed")
    ).one()
    assert entry.actor == "admin" and entry.details["after"]["platform_id"] == "CD75-PCH"
    assert entry.details["before"]["platform_id"] == ""
    same = set_identity(
        session,
        funder,
        author="admin",
        platform_id="CD75-PCH",
        departement_code="75",
        aid_type="",
        service_codes={"PCH-AIDE": "PH01"},
    )
    assert not same
