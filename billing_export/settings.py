"""Billing settings: who we are for the Département (rounding: ``kernel.settings.money``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from billing_export.esppadom import Provider
from kernel.settings import SettingsError, load_section, money
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
    #: ESPPADOM defines no acknowledgement: read them only for a Département whose
    #: connector sends ours (docs/flows/esppadom-ack.md). Off by default.
    acks_enabled: bool = False
    #: The ESPPADOM_TIMESTAMP_METHOD code of a clock-in by telephone, as the
    #: Département gives it; empty (the default) sends no method (decision 0505).
    timestamp_method: str = ""
    #: Remote folder where the Département puts its final invoices (PDF).
    remote_invoices: str = "esppadom/factures"
    #: Largest invoice accepted, in bytes; a larger file is left where it is and reported.
    invoice_max_bytes: int = 20_000_000

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


_METHOD = re.compile(r"^[A-Z0-9]{1,5}$")


def load() -> BillingSettings:
    settings = load_section(BillingSettings, "billing")
    settings.rounding_rules  # noqa: B018 - fail at start on a bad rule, not at month end
    if settings.timestamp_method and not _METHOD.match(settings.timestamp_method):
        raise SettingsError(
            "billing.timestamp_method : code de la liste ESPPADOM_TIMESTAMP_METHOD attendu "
            f"(1 à 5 lettres majuscules ou chiffres), reçu {settings.timestamp_method!r}"
        )
    if settings.invoice_max_bytes < 1024:
        raise SettingsError("billing.invoice_max_bytes : au moins 1024 octets")
    return settings
