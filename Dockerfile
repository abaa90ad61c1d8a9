# The whole service on a Debian base whose packages include Asterisk 22 (sid),
# the same Asterisk that asterisk/provision debootstraps for tests and local runs.
#   docker build -t telegestion .
#   docker run -p 8000:8000 -p 5060:5060/udp -v telegestion-data:/var/lib/telegestion \
#     -e TELEGESTION_EXTRANET_SECRET_KEY=... -e TELEGESTION_CORE_DATABASE_URL=postgresql+psycopg://... telegestion
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

VOLUME /var/lib/telegestion
EXPOSE 8000 5060/udp
ENTRYPOINT ["tini", "--"]
# Asterisk's configuration and French prompts are installed at start, as
# asterisk/provision does in its chroot: the ARI password is a secret from the
# environment (TELEGESTION_IVR_ARI_PASSWORD) and must not be baked into the image.
CMD ["sh", "-c", "ASTERISK_ARI_PASSWORD=\"$TELEGESTION_IVR_ARI_PASSWORD\" asterisk/install-config /etc/asterisk /usr/share/asterisk/sounds && (asterisk -f &) && exec telegestion run"]
