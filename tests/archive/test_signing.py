"""PAdES B-LTA sealing with the trial PKI, validated offline now and ten years later."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.pdfgen import canvas

from archive.pki import SIGNER_YEARS, TSA_YEARS
from archive.settings import ArchiveSettings
from archive.signing import Sealer, TrustMaterial, check_signature, load_trust
from archive.statement import FONT, _register_fonts, to_pdfa


@pytest.fixture(scope="module")
def pdfa_document() -> bytes:
    _register_fonts()
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, initialFontName=FONT)
    page.setFont(FONT, 12)
    page.drawString(72, 720, "État mensuel — intervention de 9 h 00 à 11 h 05")
    page.save()
    return to_pdfa(buffer.getvalue())


@pytest.fixture(scope="module")
def sealed(sealer: Sealer, pdfa_document: bytes) -> bytes:
    return sealer.seal(pdfa_document)


def test_sealed_pdf_validates_offline_now(sealed: bytes, sealer: Sealer) -> None:
    check = check_signature(sealed, sealer.trust)
    assert check.ok, check.problem
    assert check.signed_at is not None
    assert abs(check.signed_at - datetime.now(UTC)) < timedelta(hours=1)


def test_sealed_pdf_validates_as_of_ten_years_later(sealed: bytes, sealer: Sealer) -> None:
    # Both the seal's and the authority's certificates have expired by then.
    later = datetime.now(UTC) + timedelta(days=365 * 10 + 3)
    assert later.year - datetime.now(UTC).year > max(SIGNER_YEARS, TSA_YEARS)
    check = check_signature(sealed, sealer.trust, as_of=later)
    assert check.ok, check.problem


def test_seal_is_pades_lta_with_embedded_validation_data(sealed: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    assert len(reader.embedded_regular_signatures) == 1
    assert len(reader.embedded_timestamp_signatures) == 2  # LTA timestamp, then one extension
    dss = reader.root["/DSS"]
    assert len(dss["/Certs"]) >= 3 and len(dss["/CRLs"]) >= 1
    assert reader.embedded_regular_signatures[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"


def test_seal_keeps_pdf_1_7_and_the_pdfa_2b_claim(sealed: bytes) -> None:
    # An ECDSA key would make pyHanko write PDF 2.0, which PDF/A-2 forbids.
    with pikepdf.open(io.BytesIO(sealed)) as pdf:
        declared = str(pdf.Root.get("/Version", "/" + pdf.pdf_version)).lstrip("/")
        assert declared == "1.7"
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"


def test_flipped_byte_in_signed_content_fails(sealed: bytes, sealer: Sealer) -> None:
    position = sealed.index(b"intervention") if b"intervention" in sealed else len(sealed) // 4
    damaged = bytearray(sealed)
    damaged[position] ^= 0x01
    check = check_signature(bytes(damaged), sealer.trust)
    assert not check.ok and check.problem


def test_a_foreign_trust_root_is_refused(sealed: bytes, tmp_path: Path) -> None:
    from archive.pki import init_pki

    init_pki(tmp_path, "Autre organisation d'aide et d'accompagnement à domicile de Paris Est")
    other = load_trust(ArchiveSettings(), tmp_path)
    check = check_signature(sealed, TrustMaterial(other.roots, other.crls))
    assert not check.ok


def test_cached_key_signer_is_reused_across_documents(sealer: Sealer, pdfa_document: bytes) -> None:
    key = sealer.signer._key
    first = sealer.seal(pdfa_document)
    second = sealer.seal(pdfa_document)
    assert sealer.signer._key is key
    assert first != second  # fresh signing time and timestamps each time
    # Later seals reuse the validation data gathered once: same long-term result.
    later = datetime.now(UTC) + timedelta(days=365 * 10 + 3)
    assert check_signature(second, sealer.trust).ok
    assert check_signature(second, sealer.trust, as_of=later).ok


def test_without_the_extension_the_seal_fails_once_certificates_expire(
    sealer: Sealer, pdfa_document: bytes
) -> None:
    """Why ``Sealer.seal`` adds one archival timestamp right after the B-LTA revision."""
    b_lta = sealer.seal_b_lta(pdfa_document)
    after_expiry = datetime.now(UTC) + timedelta(days=365 * (SIGNER_YEARS + 1))
    assert check_signature(b_lta, sealer.trust).ok
    assert not check_signature(b_lta, sealer.trust, as_of=after_expiry).ok
    extended = sealer.extend(b_lta)
    assert check_signature(extended, sealer.trust, as_of=after_expiry).ok
