"""The trial PKI: a local CA, the organisation's seal certificate and a timestamp authority.

``telegestion archive init-pki`` makes them under ``<data_dir>/archive/pki`` so
that the archive works with no outside service. They are for trial use only:
nobody outside this installation trusts this CA. In production, configure the
organisation's own PKCS#12 (``archive.pkcs12_path``) and a qualified timestamp
authority (``archive.tsa_url``).

Keys are RSA-3072 with SHA-256: an ECDSA key makes pyHanko write PDF 2.0,
which PDF/A-2 forbids (docs/decisions/0402-archive-pki-defaults.md).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRIAL_LABEL = "ESSAI - NE PAS UTILISER EN PRODUCTION"
#: Never fetched: the CRL is issued locally and handed to the validator.
TRIAL_CRL_URL = "http://127.0.0.1/telegestion-trial-ca.crl"
KEY_SIZE = 3072
CA_YEARS = 15
SIGNER_YEARS = 3
TSA_YEARS = 5
CRL_DAYS = 30

README = f"""\
PKI D'ESSAI ({TRIAL_LABEL})

Ces fichiers ont été créés par `telegestion archive init-pki` :
  ca.pem / ca-key.pem    autorité de certification locale ({CA_YEARS} ans)
  signer.p12             cachet de l'organisation (RSA-{KEY_SIZE}, {SIGNER_YEARS} ans)
  signer.pass            sa phrase de passe (lue seulement si l'environnement n'en donne pas)
  tsa.pem / tsa-key.pem  autorité d'horodatage locale RFC 3161 ({TSA_YEARS} ans)
  crl.pem, crls/         liste de révocation de l'autorité locale, et toutes les précédentes

Personne en dehors de cette installation ne fait confiance à cette autorité :
les états signés avec elle ne prouvent rien à un tiers. En production,
configurez le PKCS#12 de l'organisation (archive.pkcs12_path, phrase de passe
dans TELEGESTION_ARCHIVE_PKCS12_PASSPHRASE) et une autorité d'horodatage
qualifiée (archive.tsa_url).
"""


class PkiError(Exception):
    """Missing or unreadable key material; the message says which file."""


@dataclass(frozen=True)
class PkiPaths:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def signer_p12(self) -> Path:
        return self.root / "signer.p12"

    @property
    def signer_pass(self) -> Path:
        return self.root / "signer.pass"

    @property
    def tsa_cert(self) -> Path:
        return self.root / "tsa.pem"

    @property
    def tsa_key(self) -> Path:
        return self.root / "tsa-key.pem"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def crl_history(self) -> Path:
        return self.root / "crls"

    def exists(self) -> bool:
        return all(
            p.exists()
            for p in (self.ca_cert, self.ca_key, self.signer_p12, self.tsa_cert, self.tsa_key)
        )


def pki_paths(data_dir: Path) -> PkiPaths:
    return PkiPaths(data_dir / "archive" / "pki")


def _fit(text: str, limit: int = 64) -> str:
    """Shorten to ``limit`` UTF-8 bytes, the X.509 upper bound of these attributes."""
    while len(text.encode()) > limit:
        text = text[:-1]
    return text.rstrip()


def _name(organisation: str, role: str) -> x509.Name:
    suffix = f" - {role} (essai)"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(organisation)),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TRIAL_LABEL),
            x509.NameAttribute(
                NameOID.COMMON_NAME, _fit(organisation, 64 - len(suffix.encode())) + suffix
            ),
        ]
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    not_before: datetime,
    years: int,
    *,
    ca: bool = False,
    eku: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=False)
    else:
        usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True)
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(TRIAL_CRL_URL)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=not ca and eku is None,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **usage,
        ),
        critical=True,
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def init_pki(data_dir: Path, organisation: str, *, now: datetime | None = None) -> PkiPaths:
    """Create the trial CA, seal certificate, timestamp authority and CRL."""
    paths = pki_paths(data_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    ca_key, signer_key, tsa_key = _key(), _key(), _key()
    ca_name = _name(organisation, "AC")
    ca_cert = _issue(ca_name, ca_key, ca_name, ca_key, start, CA_YEARS, ca=True)
    signer_cert = _issue(
        _name(organisation, "cachet"), signer_key, ca_name, ca_key, start, SIGNER_YEARS
    )
    tsa_cert = _issue(
        _name(organisation, "horodatage"),
        tsa_key,
        ca_name,
        ca_key,
        start,
        TSA_YEARS,
        eku=ExtendedKeyUsageOID.TIME_STAMPING,
    )
    passphrase = secrets.token_urlsafe(24).encode()
    _write_private(paths.signer_pass, passphrase + b"\n")
    _write_private(
        paths.signer_p12,
        pkcs12.serialize_key_and_certificates(
            b"cachet",
            signer_key,
            signer_cert,
            [ca_cert],
            serialization.BestAvailableEncryption(passphrase),
        ),
    )
    _write_private(paths.ca_key, _pem_key(ca_key))
    _write_private(paths.tsa_key, _pem_key(tsa_key))
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.tsa_cert.write_bytes(tsa_cert.public_bytes(serialization.Encoding.PEM))
    (paths.root / "LISEZ-MOI.txt").write_text(README, encoding="utf-8")
    refresh_crl(paths, now=now)
    return paths


def renew_tsa(paths: PkiPaths, *, now: datetime | None = None) -> None:
    """Give the trial authority a new key and certificate (the old ones kept in tsa-history/).

    A real authority renews its own; the archive's timestamps issued before
    stay valid through the validation data embedded in each file.
    """
    moment = now or datetime.now(UTC)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    old = x509.load_pem_x509_certificate(paths.tsa_cert.read_bytes())
    history = paths.root / "tsa-history"
    history.mkdir(exist_ok=True)
    stamp = old.not_valid_before_utc.strftime("%Y%m%dT%H%M%SZ")
    os.replace(paths.tsa_cert, history / f"tsa-{stamp}.pem")
    os.replace(paths.tsa_key, history / f"tsa-key-{stamp}.pem")
    key = _key()
    cert = _issue(
        old.subject,
        key,
        ca_cert.subject,
        ca_key,
        moment - timedelta(minutes=5),
        TSA_YEARS,
        eku=ExtendedKeyUsageOID.TIME_STAMPING,
    )
    _write_private(paths.tsa_key, _pem_key(key))
    paths.tsa_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # A CRL issued before the new certificate existed says nothing about it.
    refresh_crl(paths, now=moment)


def refresh_crl(paths: PkiPaths, *, now: datetime | None = None) -> bytes:
    """Issue a fresh (empty) CRL of the trial CA and return it in DER."""
    moment = now or datetime.now(UTC)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(moment - timedelta(minutes=1))
        .next_update(moment + timedelta(days=CRL_DAYS))
        .add_extension(x509.CRLNumber(int(moment.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = crl.public_bytes(serialization.Encoding.PEM)
    # Every CRL is kept: a verifier checks old timestamps against the CRL of their time.
    paths.crl_history.mkdir(exist_ok=True)
    (paths.crl_history / f"crl-{moment.strftime('%Y%m%dT%H%M%S%fZ')}.pem").write_bytes(pem)
    tmp = paths.crl.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(pem)
    os.replace(tmp, paths.crl)
    return crl.public_bytes(serialization.Encoding.DER)


def ensure_fresh_crl(paths: PkiPaths, *, now: datetime | None = None) -> None:
    """Re-issue the trial CA's CRL when it is missing or past half its life."""
    moment = now or datetime.now(UTC)
    if paths.crl.exists():
        current = x509.load_pem_x509_crl(paths.crl.read_bytes())
        next_update = current.next_update_utc
        if next_update is not None and next_update - moment > timedelta(days=CRL_DAYS / 2):
            return
    refresh_crl(paths, now=moment)
