# The whole service on a Debian base whose packages include Asterisk 22 (sid),
# the same Asterisk that asterisk/provision debootstraps for tests and local runs.
#   docker build -t telegestion .
#   docker run -p 8000:8000 -p 5060:5060/udp -v telegestion-data:/var/lib/telegestion \
#     -e TELEGESTION_EXTRANET_SECRET_KEY=... -e TELEGESTION_CORE_DATABASE_URL=postgresql+psycopg://... telegestion
# The first time, install the organisation (no demo data in production; decision 0600):
#   docker run --rm -it -v telegestion-data:/var/lib/telegestion -v $PWD/reference.toml:/reference.toml \
#     -e TELEGESTION_CORE_DATABASE_URL=... telegestion telegestion init /reference.toml
FROM debian:sid-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    TELEGESTION_CORE_DATA_DIR=/var/lib/telegestion

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-config \
      python3 python3-venv python3-dev gcc \
      espeak-ng sox libsox-fmt-all fonts-dejavu-core ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/telegestion
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY ivr ivr
COPY extranet extranet
COPY flows flows
COPY archive archive
COPY billing_export billing_export
COPY config config
COPY asterisk asterisk
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir . \
 && ln -s /opt/venv/bin/telegestion /usr/local/bin/telegestion

# Configuration and French prompts at build time (no secret: ari.conf and
# manager.conf are left out), as asterisk/provision does in its chroot.
RUN asterisk/install-config /etc/asterisk /usr/share/asterisk/sounds \
 && mkdir -p /var/lib/telegestion/asterisk-spool \
 && ln -s /var/lib/telegestion/asterisk-spool /var/spool/asterisk/telegestion

ENV TELEGESTION_IVR_DIALPLAN_SPOOL=/var/spool/asterisk/telegestion/dialplan.spool

VOLUME /var/lib/telegestion
EXPOSE 8000 5060/udp 20000-30000/udp
ENTRYPOINT ["tini", "--"]
# At start, install-config again with the ARI/AMI secret from the environment
# (TELEGESTION_IVR_ARI_PASSWORD), then Asterisk, then the service.
CMD ["sh", "-c", "ASTERISK_ARI_PASSWORD=\"$TELEGESTION_IVR_ARI_PASSWORD\" asterisk/install-config /etc/asterisk /usr/share/asterisk/sounds && (asterisk -f &) && exec telegestion run"]
