"""AMI through pyst2, where it fits: a health ping and test calls (Originate).

pyst2's synchronous AMI client is enough for these short, one-off actions; the
call flow itself runs on ARI (``ivr.ari``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from asterisk.manager import Manager, ManagerException

#: The dialplan context a test phone runs in (asterisk/etc/extensions.conf).
PHONE_CONTEXT = "telegestion-test-phone"
IVR_CONTEXT = "telegestion"


class AmiError(Exception):
    pass


@contextlib.contextmanager
def session(host: str, port: int, user: str, secret: str) -> Iterator[Manager]:
    manager = Manager()
    try:
        manager.connect(host, port)
        manager.login(user, secret)
    except (ManagerException, OSError) as exc:
        with contextlib.suppress(Exception):
            manager.close()
        raise AmiError(f"AMI {host}:{port}: {exc}") from exc
    try:
        yield manager
    finally:
        with contextlib.suppress(Exception):
            manager.close()


def ping(host: str, port: int, user: str, secret: str) -> bool:
    try:
        with session(host, port, user, secret) as manager:
            return manager.ping().get_header("Response") == "Success"
    except (AmiError, ManagerException, OSError):
        return False


def originate_test_call(
    manager: Manager,
    *,
    caller: str,
    keys: str,
    ivr_channel_id: str,
    phone_channel_id: str,
    hold: int = 30,
    dtmf_ms: int = 100,
    lead: float = 1.0,
    ivr_context: str = IVR_CONTEXT,
    extra: Mapping[str, str] | None = None,
) -> None:
    """A Local channel call: one half runs the IVR's dialplan with ``caller`` as its
    caller number, the other half plays the phone and keys ``keys`` (SendDTMF syntax)."""
    variables = {
        "TG_KEYS": keys,
        "TG_HOLD": str(hold),
        "TG_DTMF_MS": str(dtmf_ms),
        "TG_LEAD": str(lead),
        **(extra or {}),
    }
    response = manager.send_action(
        {
            "Action": "Originate",
            "Channel": f"Local/s@{ivr_context}/n",
            "Context": PHONE_CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "CallerID": f"<{caller}>" if caller else "",
            "ChannelId": phone_channel_id,
            "OtherChannelId": ivr_channel_id,
            "Async": "true",
            "Timeout": "30000",
            "Variable": [f"{k}={v}" for k, v in variables.items()],
        }
    )
    if response.get_header("Response") != "Success":
        raise AmiError(f"Originate refused: {response.get_header('Message')}")
