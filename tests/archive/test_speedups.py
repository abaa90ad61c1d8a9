"""The replacements in ``archive.speedups`` give what the originals give, odd input included."""

from __future__ import annotations

import io

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfStreamError

from archive import speedups


def _both(data: bytes) -> tuple[object, int, object, int]:
    ours, theirs = io.BytesIO(data), io.BytesIO(data)
    mine = speedups.read_hex_string_from_stream(ours)
    original = speedups.original_read_hex_string(theirs)
    return mine, ours.tell(), original, theirs.tell()


@pytest.mark.parametrize(
    "data",
    [
        b"<>",
        b"<48656C6C6F> /Next",
        b"<48 65\n6c\r\n6C\t6F\x00> rest",
        b"<901FA>",  # odd number of digits: a trailing 0 is implied
        b"<" + b"0A" * 40000 + b">trailer",  # longer than one read
        b"<" + b"ab" * 20000 + b"\n" + b"CD" * 20000 + b">",
        b"<4865%comment\n6C>",  # a comment: pyHanko's own reading
    ],
)
def test_hex_strings_read_as_pyhanko_reads_them(data: bytes) -> None:
    mine, my_position, original, their_position = _both(data)
    assert mine == original
    assert type(mine) is type(original)
    assert my_position == their_position  # the stream is left just after ">"


@pytest.mark.parametrize("data", [b"<48656Z6C>", b"<486565", b"<48<65>"])
def test_bad_hex_strings_fail_as_in_pyhanko(data: bytes) -> None:
    with pytest.raises(PdfStreamError) as theirs:
        speedups.original_read_hex_string(io.BytesIO(data))
    with pytest.raises(PdfStreamError) as ours:
        speedups.read_hex_string_from_stream(io.BytesIO(data))
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "value",
    ["Paris Domicile", "  ÉTAT\u00adcivil ", "ﬁnance\u200b", "Œuvre – Île-de-France", "x" * 64],
)
def test_name_preparation_is_the_same(value: str) -> None:
    assert speedups._ldap_string_prep(None, value) == speedups.original_ldap_string_prep(
        None, value
    )


def test_prohibited_characters_still_refused() -> None:
    private_use = "cachet\ue000"
    with pytest.raises(ValueError):
        speedups.original_ldap_string_prep(None, private_use)
    for _ in range(2):  # an error is never memoised as an answer
        with pytest.raises(ValueError):
            speedups._ldap_string_prep(None, private_use)


def test_install_replaces_both_and_is_idempotent() -> None:
    from pyhanko.pdf_utils import generic

    speedups.install()
    speedups.install()
    assert generic.read_hex_string_from_stream is speedups.read_hex_string_from_stream
    assert asn1_x509.NameTypeAndValue._ldap_string_prep is speedups._ldap_string_prep
    name = asn1_x509.Name.build({"common_name": "Cachet – Paris", "country_name": "FR"})
    assert name == asn1_x509.Name.build({"common_name": "cachet  –  paris", "country_name": "FR"})
