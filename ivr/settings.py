"""IVR settings (section ``[ivr]``, environment ``TELEGESTION_IVR_<FIELD>``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kernel.settings import SettingsError, core, environ, load_section


@dataclass(frozen=True)
class IvrSettings:
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "telegestion"
    #: Secret: only from the environment (TELEGESTION_IVR_ARI_PASSWORD) or this file,
    #: which asterisk/provision writes when it generates the password.
    ari_password_file: Path = Path("var/asterisk/ari-password")
    app: str = "telegestion"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    #: Our own fsync'd spool of call events the database refused; empty: <data_dir>/ivr.
    spool_dir: Path | None = None
    #: The file the dialplan's degraded path appends to (as seen from this host);
    #: asterisk/provision bind-mounts var/asterisk/spool into Asterisk's spool.
    dialplan_spool: Path = Path("var/asterisk/spool/dialplan.spool")
    #: Loopback HTTP health endpoint of ``telegestion ivr run``; 0 disables it.
    health_port: int = 8089
    max_code_digits: int = 8
    attempts: int = 3
    first_digit_timeout: float = 8.0
    inter_digit_timeout: float = 4.0
    replay_interval: float = 2.0
    #: Optional JSON-lines file of per-call timings (benchmark).
    metrics_path: Path | None = None

    def ari_password(self) -> str:
        secret = environ().get("TELEGESTION_IVR_ARI_PASSWORD")
        if secret:
            return secret
        try:
            return self.ari_password_file.read_text().strip()
        except OSError:
            raise SettingsError(
                "ARI password: set TELEGESTION_IVR_ARI_PASSWORD or run asterisk/provision start "
                f"(which writes {self.ari_password_file})"
            ) from None

    def effective_spool_dir(self) -> Path:
        return self.spool_dir if self.spool_dir is not None else core().data_dir / "ivr"


def load() -> IvrSettings:
    return load_section(IvrSettings, "ivr")
