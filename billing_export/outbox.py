"""Where DELIVERY files go and invoices (and acknowledgements) come from: the transport.

``kernel.transport`` owns local folders and SFTP (temporary name then rename,
SHA-256 sidecar, retries, strict host keys); billing only names its folders
(``[billing] remote_outbox``, ``remote_invoices`` and ``remote_acks``,
relative to the transport's root) and uses ``put``, ``list``, ``get``,
``read`` and ``mark_processed``.
"""

from __future__ import annotations

from pathlib import Path

from kernel.transport import Transport, load_transport_settings, open_transport


def open_channel(data_dir: Path) -> Transport:
    """The transport configured in ``[flows]`` (local folder by default, or SFTP)."""
    return open_transport(load_transport_settings(), data_dir)
