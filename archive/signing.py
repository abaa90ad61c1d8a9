"""PAdES B-LTA sealing and offline validation with pyHanko.

One ``Sealer`` per process: it parses the organisation's key once (pyHanko's
``SimpleSigner`` re-parses it at every signature, about 140 ms twice for
RSA-3072), keeps one timestamp client, one validation context, one event loop
and the run's validation data, and seals each statement as PAdES B-LTA:
signature with its RFC 3161 timestamp, the validation data (certificates and
CRLs) in the document security store with a document timestamp over them,
then one more document timestamp, the first link of the archival chain, so
that the file validates offline "as of" dates after its certificates expire
(docs/decisions/0401-archive-pyhanko-pades.md). ``Sealer.extend`` adds the
next links years later (``archive.retimestamp``).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from asn1crypto import cms, core, keys, tsp
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import (
    SigningError,
    as_signing_certificate,
    as_signing_certificate_v2,
    get_pyca_cryptography_hash,
    simple_cms_attribute,
)
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, set_tsp_headers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleCertificateStore, SimpleTrustManager

from archive import speedups
from archive.pki import PkiError, ensure_fresh_crl, pki_paths
from archive.settings import ArchiveSettings, passphrase_from_env

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "CachetOrganisation"
#: Bytes of room kept beyond a measured signature container (serial numbers,
#: times and nonces vary by a few bytes from one token to the next).
_ROOM_MARGIN = 128


class _FixedAttribute(CMSAttributeProvider):
    """A signed attribute whose value never changes, encoded once."""

    def __init__(self, attribute_type: str, encoded: bytes) -> None:
        self.attribute_type = attribute_type
        self._encoded = encoded

    async def get_attribute(self, dry_run: bool = False) -> cms.CMSAttribute:
        return cms.CMSAttribute.load(self._encoded)


class CachedKeySigner(signers.SimpleSigner):
    """A ``SimpleSigner`` that parses its RSA key once, not at every signature.

    It also encodes the signing-certificate-v2 attribute once: building it
    re-encodes the certificate's names, about 25 ms per signature.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise PkiError("la clé du cachet doit être RSA (PDF/A-2 interdit PDF 2.0)")
        self._key = key
        self._signing_certificate_v2 = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(self.signing_cert)
        ).dump()

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Iterator[CMSAttributeProvider]:
        for provider in super()._signed_attr_providers(*args, **kwargs):
            if isinstance(provider, SigningCertificateV2Provider):
                yield _FixedAttribute("signing_certificate_v2", self._signing_certificate_v2)
            else:
                yield provider

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism != "rsassa_pkcs1v15":
            return super().sign_raw(data, digest_algorithm)
        return self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))


class LocalTimeStamper(DummyTimeStamper):
    """The trial RFC 3161 authority, in process, with its key parsed once."""

    def __init__(
        self, tsa_cert: asn1_x509.Certificate, tsa_key: keys.PrivateKeyInfo, chain: list
    ) -> None:
        super().__init__(tsa_cert, tsa_key, certs_to_embed=SimpleCertificateStore.from_certs(chain))
        key = serialization.load_der_private_key(tsa_key.dump(), password=None)
        assert isinstance(key, RSAPrivateKey)
        self._key = key
        # Building this attribute re-encodes the certificate's names (about 25 ms):
        # it never changes, so it is built once and reloaded from its bytes.
        self._signing_certificate = simple_cms_attribute(
            "signing_certificate", as_signing_certificate(tsa_cert)
        ).dump()

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        md = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        md.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                cms.CMSAttribute.load(self._signing_certificate),
                simple_cms_attribute("message_digest", md.finalize()),
            ]
        )
        signature = self._key.sign(
            signed_attrs.dump(), PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper())
        )
        return signature, signed_attrs


class HttpxTimeStamper(TimeStamper):
    """An RFC 3161 client over one shared HTTP connection (``archive.tsa_url``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__()
        self.url = url
        self.client = httpx.Client(timeout=timeout)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        def post() -> tsp.TimeStampResp:
            try:
                response = self.client.post(
                    self.url, content=req.dump(), headers=set_tsp_headers({})
                )
            except httpx.HTTPError as exc:
                raise TimestampRequestError(f"autorité d'horodatage injoignable : {exc}") from exc
            if response.headers.get("Content-Type") != "application/timestamp-reply":
                raise TimestampRequestError("réponse de l'autorité d'horodatage mal formée")
            return tsp.TimeStampResp.load(response.content)

        return await asyncio.to_thread(post)


@dataclass(frozen=True)
class TrustMaterial:
    """What a verifier needs offline: trust roots and the CRLs of the local CA."""

    roots: tuple[asn1_x509.Certificate, ...]
    crls: tuple[bytes, ...]


def load_trust(settings: ArchiveSettings, data_dir: Path) -> TrustMaterial:
    roots: list[asn1_x509.Certificate] = []
    crls: list[bytes] = []
    paths = pki_paths(data_dir)
    if paths.ca_cert.exists():
        roots.append(load_cert_from_pemder(str(paths.ca_cert)))
    for name in filter(None, (p.strip() for p in settings.trust_roots.split(","))):
        roots.extend(load_certs_from_pemder([name]))
    crl_files = sorted(paths.crl_history.glob("*.pem")) if paths.crl_history.is_dir() else []
    if not crl_files and paths.crl.exists():
        crl_files = [paths.crl]
    for crl_file in crl_files:
        crls.append(
            x509.load_pem_x509_crl(crl_file.read_bytes()).public_bytes(serialization.Encoding.DER)
        )
    if not roots:
        raise PkiError(
            "aucune racine de confiance : lancez `telegestion archive init-pki` "
            "ou configurez archive.trust_roots"
        )
    return TrustMaterial(tuple(roots), tuple(crls))


def load_anchors(sources: Sequence[Path]) -> TrustMaterial:
    """Trust roots from published files only (PEM or DER certificates, or folders of them).

    This is all a third party needs to check a statement offline: the CRLs
    and certificates that prove it are inside the PDF (its DSS).
    """
    roots: list[asn1_x509.Certificate] = []
    for source in sources:
        files = sorted(source.iterdir()) if source.is_dir() else [source]
        for path in files:
            if path.suffix.lower() not in (".pem", ".crt", ".cer", ".der"):
                continue
            data = path.read_bytes()
            if b"-----BEGIN" in data and b"CERTIFICATE-----" not in data:
                continue  # a CRL or a key published beside the certificates
            try:
                roots.extend(load_certs_from_pemder([str(path)]))
            except Exception as exc:  # noqa: BLE001 - named for the operator
                raise PkiError(f"certificat illisible : {path} ({exc})") from None
    if not roots:
        raise PkiError(
            "aucune racine de confiance dans "
            + ", ".join(str(s) for s in sources)
            + " (le certificat de l'autorité publié, par exemple trust/ca.pem d'un export)"
        )
    return TrustMaterial(tuple(roots), ())


def _load_signer(settings: ArchiveSettings, data_dir: Path) -> CachedKeySigner:
    paths = pki_paths(data_dir)
    trial = not settings.pkcs12_path
    p12 = paths.signer_p12 if trial else Path(settings.pkcs12_path)
    if not p12.exists():
        raise PkiError(
            f"PKCS#12 du cachet introuvable : {p12} "
            "(lancez `telegestion archive init-pki` ou configurez archive.pkcs12_path)"
        )
    passphrase = passphrase_from_env(paths.signer_pass if trial else None)
    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=passphrase)
    if signer is None:
        raise PkiError(f"PKCS#12 illisible (phrase de passe ?) : {p12}")
    return CachedKeySigner(
        signing_cert=signer.signing_cert,
        signing_key=signer.signing_key,
        cert_registry=signer.cert_registry,
    )


def _load_timestamper(
    settings: ArchiveSettings, data_dir: Path, now: datetime | None = None
) -> TimeStamper:
    if settings.tsa_url:
        return HttpxTimeStamper(settings.tsa_url)
    paths = pki_paths(data_dir)
    if not paths.tsa_cert.exists():
        raise PkiError(
            "autorité d'horodatage locale absente : lancez `telegestion archive init-pki`"
        )
    from pyhanko.keys import load_private_key_from_pemder

    stamper = LocalTimeStamper(
        load_cert_from_pemder(str(paths.tsa_cert)),
        load_private_key_from_pemder(str(paths.tsa_key), passphrase=None),
        [load_cert_from_pemder(str(paths.ca_cert))],
    )
    # ``now`` is for runs dated ahead (the trial authority only).
    stamper.fixed_dt = now
    return stamper


def validation_context(trust: TrustMaterial, moment: datetime | None = None) -> ValidationContext:
    return ValidationContext(
        trust_roots=list(trust.roots),
        crls=list(trust.crls),
        allow_fetching=False,
        revocation_mode="hard-fail",
        moment=moment,
    )


class _QuietWriter(IncrementalPdfFileWriter):
    """An incremental writer that leaves the document's metadata as it is.

    pyHanko refreshes the modification date in the Info dictionary and the
    XMP packet at every revision, parsing and rewriting the XMP each time
    (about a tenth of a seal). A statement's three revisions are made within
    the same second as its PDF/A file, and PDF/A only asks that Info and XMP
    agree, which they still do when neither is touched.
    """

    def _update_meta(self) -> None:
        return None


class Sealer:
    """Seals PDFs as PAdES B-LTA; build one per process and reuse it.

    A statement gets three incremental revisions, each read once:
    1. the seal (CAdES signature with its RFC 3161 signature timestamp);
    2. the document security store (certificates and CRLs of the seal and of
       the authority, known once for the whole run) and, in the same
       revision, a document timestamp that covers them (B-LTA);
    3. a second document timestamp, the first link of the archival chain:
       it is what lets the file validate "as of" dates after the seal's and
       the authority's certificates have expired (tests check now, +10 and
       +20 years).
    pyHanko's stock ``sign_pdf(use_pades_lta=True)`` followed by
    ``update_archival_timestamp_chain`` makes five revisions, re-reads the
    file for each, validates both certificate paths again for every
    statement and rewrites the XMP packet each time.
    """

    def __init__(self, settings: ArchiveSettings, data_dir: Path) -> None:
        speedups.install()
        paths = pki_paths(data_dir)
        if not settings.pkcs12_path and paths.ca_key.exists():
            # The trial CA keeps a fresh CRL published, as a real CA would.
            ensure_fresh_crl(paths)
        self.trust = load_trust(settings, data_dir)
        self.signer = _load_signer(settings, data_dir)
        self.timestamper = _load_timestamper(settings, data_dir)
        self.context = validation_context(self.trust)
        #: One event loop for the process: ``asyncio.run`` per call costs a loop each time.
        self._loop = asyncio.new_event_loop()
        self.metadata = signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason="État mensuel du service fait",
            location="France",
        )
        self.pdf_signer = signers.PdfSigner(
            self.metadata, signer=self.signer, timestamper=self.timestamper
        )
        self.doc_timestamper = signers.PdfTimeStamper(self.timestamper)
        #: Room for the signature container, measured on the first seal then reused:
        #: pyHanko otherwise signs a dummy document at every seal to estimate it.
        self._reserved: int | None = None
        self._ts_reserved: int | None = None
        # The validation data of every statement of the run is the same: the
        # seal's path and the authority's path, with the CA's CRLs.
        signer_path = self._run(
            CertificateValidator(
                self.signer.signing_cert,
                intermediate_certs=self.signer.cert_registry,
                validation_context=self.context,
            ).async_validate_usage({"non_repudiation"})
        )
        self._tsa_paths: tuple[ValidationPath, ...] = tuple(self._run(self._collect_tsa_paths()))
        certs = {}
        for path in (signer_path, *self._tsa_paths):
            for cert in path:
                certs[cert.issuer_serial] = cert
        self._dss_certs = tuple(certs.values())
        self._dss_crls = tuple(asn1_crl.CertificateList.load(der) for der in self.trust.crls)

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.close()

    def __del__(self) -> None:
        # A loop collected open warns (ResourceWarning), and pikepdf's PDF/A
        # validator reports warnings raised while it parses as violations.
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.close()

    async def _collect_tsa_paths(self) -> list[ValidationPath]:
        # The authority's certificates come from one dummy timestamp (cached by
        # pyHanko, and reused to size every document timestamp).
        return [path async for path in self.timestamper.validation_paths(self.context)]

    def seal(self, pdf: bytes) -> bytes:
        """The statement sealed: B-LTA and the first link of its archival chain."""
        return self._run(self._seal(pdf, link=True))  # type: ignore[no-any-return]

    def seal_b_lta(self, pdf: bytes) -> bytes:
        """Revisions 1 and 2 only (PAdES B-LTA without the archival link), for tests."""
        return self._run(self._seal(pdf, link=False))  # type: ignore[no-any-return]

    async def _seal(self, pdf: bytes, *, link: bool) -> bytes:
        try:
            return await self._seal_once(pdf, link)
        except SigningError:
            # A container outgrew its room (an authority's token of another
            # size): measure again, with pyHanko's estimates.
            logger.warning("signature room too small, measured again")
            self._reserved = self._ts_reserved = None
            return await self._seal_once(pdf, link)

    async def _seal_once(self, pdf: bytes, link: bool) -> bytes:
        out = io.BytesIO()
        await self.pdf_signer.async_sign_pdf(
            _QuietWriter(io.BytesIO(pdf)), output=out, bytes_reserved=self._reserved
        )
        if self._reserved is None:
            reader = PdfFileReader(out)
            contents = reader.embedded_signatures[0].sig_object["/Contents"]
            # /Contents is written in hex: two characters per byte. pyHanko
            # reserves half as much again as its estimate; every byte of
            # padding is read back, digit by digit, by every verification.
            self._reserved = 2 * (len(contents.rstrip(b"\0")) + _ROOM_MARGIN)
        writer = _QuietWriter(out)
        DocumentSecurityStore.supply_dss_in_writer(
            writer, None, certs=self._dss_certs, crls=self._dss_crls
        )
        await self._doc_timestamp(writer)
        if link:
            await self._doc_timestamp(_QuietWriter(out))
        return out.getvalue()

    async def _doc_timestamp(self, writer: IncrementalPdfFileWriter) -> None:
        if self._ts_reserved is None and isinstance(self.timestamper, LocalTimeStamper):
            # The local authority's tokens keep their size; an outside
            # authority's may vary, so pyHanko's estimate is kept for it.
            dummy = await self.timestamper.async_dummy_response("sha256")
            self._ts_reserved = 2 * (len(dummy.dump()) + _ROOM_MARGIN)
        await self.doc_timestamper.async_timestamp_pdf(
            writer, "sha256", None, bytes_reserved=self._ts_reserved, in_place=True
        )

    def extend(self, pdf: bytes, md_algorithm: str | None = None) -> bytes:
        """See ``ChainExtender.extend``, with this sealer's authority."""
        return _extend(self._run, self.timestamper, self.context, pdf, md_algorithm)


class _ChainTimeStamper(signers.PdfTimeStamper):
    """pyHanko's archival chain update, with the new timestamp's hash chosen by us.

    pyHanko reuses the previous timestamp's hash algorithm; when that
    algorithm is retired the next link must use a stronger one.
    """

    md_override: str | None = None

    async def async_timestamp_pdf(
        self, pdf_out: Any, md_algorithm: Any, *args: Any, **kw: Any
    ) -> Any:
        return await super().async_timestamp_pdf(
            pdf_out, self.md_override or md_algorithm, *args, **kw
        )


def _extend(
    run: Any,
    timestamper: TimeStamper,
    context: ValidationContext,
    pdf: bytes,
    md_algorithm: str | None,
) -> bytes:
    stamper = _ChainTimeStamper(timestamper)
    stamper.md_override = md_algorithm
    out = io.BytesIO()
    run(
        stamper.async_update_archival_timestamp_chain(
            PdfFileReader(io.BytesIO(pdf)), context, in_place=False, output=out
        )
    )
    return out.getvalue()


class ChainExtender:
    """Extends archived files' timestamp chains; needs the authority, not the seal's key.

    ``extend`` is pyHanko's ``update_archival_timestamp_chain``: it validates
    the last timestamp now, adds the certificates and revocation data that
    prove it (with a VRI entry), then adds a document timestamp from the
    current authority, with ``md_algorithm`` when the previous one's hash is
    being retired. Run before the last timestamp's certificate expires
    (``archive.retimestamp``).
    """

    def __init__(
        self, settings: ArchiveSettings, data_dir: Path, *, now: datetime | None = None
    ) -> None:
        speedups.install()
        paths = pki_paths(data_dir)
        if not settings.pkcs12_path and paths.ca_key.exists():
            ensure_fresh_crl(paths, now=now)
        self.trust = load_trust(settings, data_dir)
        self.timestamper = _load_timestamper(settings, data_dir, now)
        self.context = validation_context(self.trust, moment=now)
        self._loop = asyncio.new_event_loop()

    def authority_expires(self) -> datetime:
        """When the current authority's certificate expires (no timestamp is useful after)."""
        certs = self._loop.run_until_complete(self._certs())
        return min(c.not_valid_after for c in certs)  # type: ignore[no-any-return]

    async def _certs(self) -> list[asn1_x509.Certificate]:
        await self.timestamper.async_dummy_response("sha256")
        return [path.leaf async for path in self.timestamper.validation_paths(self.context)]

    def extend(self, pdf: bytes, md_algorithm: str | None = None) -> bytes:
        return _extend(
            self._loop.run_until_complete, self.timestamper, self.context, pdf, md_algorithm
        )

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.close()

    def __del__(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.close()


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    #: French, for the verify report; empty when ok.
    problem: str
    signed_at: datetime | None = None


def _spec(trust: TrustMaterial) -> PdfSignatureValidationSpec:
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=list(trust.roots)),
                revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )


def check_signature(
    pdf: bytes, trust: TrustMaterial, as_of: datetime | None = None
) -> SignatureCheck:
    """Validate the seal, its timestamps and the archival chain offline, now or ``as_of``."""
    speedups.install()
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        embedded = reader.embedded_regular_signatures
    except Exception as exc:  # noqa: BLE001 - any parse error is a fault to report
        return SignatureCheck(False, f"PDF illisible : {exc}")
    if len(embedded) != 1:
        return SignatureCheck(False, f"{len(embedded)} signature(s) au lieu d'une")
    timing = None
    if as_of is not None:
        timing = ValidationTimingInfo(
            validation_time=as_of, best_signature_time=as_of, point_in_time_validation=True
        )
    try:
        result = asyncio.run(ades_lta_validation(embedded[0], _spec(trust), timing_info=timing))
    except Exception as exc:  # noqa: BLE001
        return SignatureCheck(False, f"validation impossible : {exc}")
    status = result.api_status
    if status is None or not (status.intact and status.valid):
        return SignatureCheck(False, f"signature altérée ou invalide ({result.ades_subindic})")
    if result.ades_subindic.status.name != "PASSED":
        detail = status.pretty_print_details() if status else ""
        logger.debug("validation details: %s", detail)
        return SignatureCheck(False, f"signature ou horodatage non validé ({result.ades_subindic})")
    return SignatureCheck(
        True, "", status.timestamp_validity.timestamp if status.timestamp_validity else None
    )
