"""Journeys across every package: the fixtures of the real parts they need, in one place.

The IVR's (real Asterisk, the IVR process) and the archive's (trial PKI, data dir,
core settings) fixtures, imported here so that pytest registers them for these tests.
"""

from tests.archive.conftest import archive_settings, core, data_dir, pki_source
from tests.ivr.conftest import asterisk, ivr

__all__ = ["archive_settings", "asterisk", "core", "data_dir", "ivr", "pki_source"]
