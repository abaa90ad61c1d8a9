"""Billing settings: who we are for the Département (rounding: ``kernel.settings.money``)."""

from __future__ import annotations

from dataclasses import dataclass

from billing_export.esppadom import Provider
from kernel.settings import load_section, money
from ledger.money import Rounding


@dataclass(frozen=True)
class BillingSettings:
    #: The service's teletransmission identifier given by the Département (often its FINESS).
    provider_id: str = "750000000"
    provider_name: str = "Paris Domicile"
    provider_siret: str = "00000000000000"
    provider_address: str = "1 place de l'Hôtel de Ville"
    provider_postcode: str = "75004"
    provider_city: str = "Paris"
    #: Remote folder (under the transport's root) where DELIVERY files are put.
    remote_outbox: str = "esppadom/depot"
    #: Remote folder where the Département puts its acknowledgements.
    remote_acks: str = "esppadom/retours"

    @property
    def provider(self) -> Provider:
        return Provider(
            teletransmission_id=self.provider_id,
            name=self.provider_name,
            siret=self.provider_siret,
            address=self.provider_address,
            postcode=self.provider_postcode,
            city=self.provider_city,
        )

    @property
    def rounding_rules(self) -> dict[str, Rounding]:
        """The funders' rounding, from the one place every output of money reads it."""
        return money().rules


def load() -> BillingSettings:
    settings = load_section(BillingSettings, "billing")
    settings.rounding_rules  # noqa: B018 - fail at start on a bad rule, not at month end
    return settings
