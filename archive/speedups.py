"""Two faster, equivalent replacements inside pyHanko and asn1crypto (docs/decisions/0405).

Verifying a sealed statement spent about a third of its time in two pure
functions that are slow for reasons unrelated to what they compute:

* ``pyhanko.pdf_utils.generic.read_hex_string_from_stream`` reads a hex
  string one byte at a time through a generator. Every signature container
  is such a string (about 16,000 hex digits per statement), and validation
  reads each one several times. The replacement finds the closing ``>`` in
  larger reads and decodes with ``binascii``; on anything but hex digits and
  PDF whitespace before the ``>`` (comments, bad tokens, a missing ``>``) it
  rewinds and calls pyHanko's own function, so odd input behaves exactly as
  before.
* ``asn1crypto.x509.NameTypeAndValue._ldap_string_prep`` (RFC 4518 string
  preparation, used by every comparison of two certificate names) recomputes
  the same few names thousands of times. It is a pure function of its
  string: the replacement memoises it.

``install()`` is idempotent and called by the composition points that parse
signatures (``Sealer``, ``check_signature``); nothing is patched at import.
``tests/archive/test_speedups.py`` compares both replacements with the
originals, including the fallbacks.
"""

from __future__ import annotations

import binascii
import functools
import re
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic

_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f \n\r\t\f\x00]")
_READ = 1 << 15

original_read_hex_string = generic.read_hex_string_from_stream
original_ldap_string_prep = asn1_x509.NameTypeAndValue._ldap_string_prep


def read_hex_string_from_stream(stream: Any) -> Any:
    """``<...>`` at the stream's position as a PDF string; pyHanko's on odd input."""
    start = stream.tell()
    stream.read(1)  # "<"
    parts: list[bytes] = []
    while True:
        chunk = stream.read(_READ)
        if not chunk:
            break
        end = chunk.find(b">")
        if end < 0:
            parts.append(chunk)
            continue
        parts.append(chunk[:end])
        body = b"".join(parts)
        if _NOT_HEX.search(body) is not None:
            break
        stream.seek(start + len(body) + 2)
        digits = body.translate(None, _WHITESPACE)
        if len(digits) % 2:
            digits += b"0"  # as the PDF format says, and as pyHanko does
        return generic.pdf_string(binascii.unhexlify(digits))
    stream.seek(start)
    return original_read_hex_string(stream)


@functools.lru_cache(maxsize=4096)
def _prepared(string: str) -> str:
    return original_ldap_string_prep(None, string)  # type: ignore[no-any-return]


def _ldap_string_prep(self: Any, string: str) -> str:
    return _prepared(string)


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    asn1_x509.NameTypeAndValue._ldap_string_prep = _ldap_string_prep
