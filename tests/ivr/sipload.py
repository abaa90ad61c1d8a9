"""SIP load with sipp: one scenario, per-key RFC 4733 pcaps, any code for any caller.

The RFC 2833 pcaps shipped with sipp are cut from one recording: their RTP
timestamps rise in digit order (1 < 2 < ... < 9 < #), so a code whose digits
do not rise (2951, 5555) loses digits in Asterisk, which takes an event
whose timestamp is not newer than the last one for a repeat. Here each key
is written for a *slot* (its position in the call): slot ``n`` of the call
gets RTP timestamps and sequence numbers above slot ``n - 1``'s whatever the
key, so any sequence of keys reaches Asterisk as new events.

The scenario reads, per call, the caller and up to ``ROUNDS`` rounds of keys
from an injection file. A round is keyed, then the phone waits for the IVR's
BYE; when none comes in time (the IVR was restarted and asks again), the next
round is keyed. ``w`` in a round is a silent slot (``SLOT_MS``), ``.`` ends it.

Used by the restart-under-load test and by ``bench/ivr`` (SIP mode).
"""

from __future__ import annotations

import random
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Keys in RFC 4733 event order: a key's index is its event code.
KEYS = "0123456789*#"
#: Field values beside the keys' indexes: a silent slot, the end of a round.
PAUSE, END = len(KEYS), len(KEYS) + 1
#: Keys (or pauses) per round (a code of six digits and its ``#``), and rounds per
#: call: four, so that a phone still keys a whole round after an IVR restart of 30 s
#: (sipp reads 64 KiB of scenario at most: 28 slots make 56 KiB).
SLOTS = 7
ROUNDS = 4
#: Time given to each slot: a 100 ms tone, then silence.
SLOT_MS = 250
#: RTP clock units between two slots (more than a tone lasts: 8 kHz clock).
SLOT_TICKS = 4000
SSRC = 0x7E1E6E57
PAYLOAD_TYPE = 101


def _pcap_packet(at_us: int, payload: bytes, dport: int = 10000, sport: int = 10001) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
    )  # fmt: skip
    frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
    return (
        struct.pack("<IIII", at_us // 1_000_000, at_us % 1_000_000, len(frame), len(frame)) + frame
    )


def key_pcap(key: str, slot: int) -> bytes:
    """One key as RFC 4733 events: 100 ms of updates every 20 ms, then three end packets.

    ``slot`` (0, 1, 2...) sets the event's RTP timestamp and the sequence
    numbers, both rising with the slot, never with the key.
    """
    event = KEYS.index(key)
    timestamp = (slot + 1) * SLOT_TICKS
    seq = (slot * 16 + 1) % 65536
    out = [_global_header()]
    at = 1_000_000

    def rtp(marker: bool, seq: int, end: bool, duration: int) -> bytes:
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | PAYLOAD_TYPE, seq, timestamp, SSRC
        )
        return header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)

    for n in range(5):
        out.append(_pcap_packet(at, rtp(n == 0, seq + n, False, 160 * (n + 1))))
        at += 20_000
    for n in range(3):
        out.append(_pcap_packet(at, rtp(False, seq + 5 + n, True, 800)))
        at += 5_000
    return b"".join(out)


def _global_header() -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def write_pcaps(directory: Path) -> Path:
    """Every (slot, key) pcap the scenario names, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS * ROUNDS):
        for number, key in enumerate(KEYS):
            (directory / f"{slot}_{number}.pcap").write_bytes(key_pcap(key, slot))
    return directory


def _slot_block(slot: int, field: int, pcaps: str) -> str:
    """One slot: read its key's number, stop the round at END, play that key's pcap.

    sipp's parser takes at most 64 KiB of scenario, hence the terse form.
    """
    tests = "".join(
        f'<test assign_to="b{n}" variable="k" compare="equal" value="{n}"/>'
        for n in range(len(KEYS))
    )
    # condexec belongs to the element, not to the action.
    plays = "".join(
        f'<nop condexec="b{n}"><action><exec play_pcap_audio="{pcaps}/{slot}_{n}.pcap"/>'
        "</action></nop>"
        for n in range(len(KEYS))
    )
    return (
        f'<nop><action><assignstr assign_to="s" value="[field{field}]"/>'
        '<todouble assign_to="k" variable="s"/>'
        f'<test assign_to="e" variable="k" compare="equal" value="{END}"/>{tests}</action></nop>\n'
        f'<nop next="end{slot // SLOTS}" test="e"/>\n'
        f"{plays}\n"
        f'<pause milliseconds="{SLOT_MS}"/>'
    )


INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      P-Asserted-Identity: <sip:[field0]@[local_ip]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

BYE_ANSWER = """  <label id="bye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <timewait milliseconds="500"/>
"""


def scenario(
    pcaps: str, *, lead_ms: int = 1500, wait_ms: Sequence[int] = (9000, 12000, 12000, 30000)
) -> str:
    """The sipp scenario: answer, then up to ROUNDS rounds of keys, each followed by a
    wait for the IVR's BYE of ``wait_ms[round]``."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8" ?>',
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">',
        "<!-- Generated by tests/ivr/sipload.py: per-slot RFC 4733 pcaps. -->",
        '<scenario name="telegestion-load">',
        INVITE,
        f'  <pause milliseconds="{lead_ms}"/>',
    ]
    for round_ in range(ROUNDS):
        parts.append(f'  <label id="round_{round_}"/>')
        for slot in range(SLOTS):
            parts.append(_slot_block(round_ * SLOTS + slot, 1 + round_ * SLOTS + slot, pcaps))
        parts.append(f'  <label id="end{round_}"/>')
        last = round_ == ROUNDS - 1
        timeout = wait_ms[min(round_, len(wait_ms) - 1)]
        on_timeout = "" if last else f' ontimeout="round_{round_ + 1}"'
        parts.append(f'  <recv request="BYE" timeout="{timeout}"{on_timeout} next="bye"/>')
    parts += [BYE_ANSWER, "</scenario>", ""]
    return "\n".join(parts)


def distinct_codes(count: int, seed: int) -> list[str]:
    """Worker codes of 4 to 6 digits, falling, repeated and rising digits alike."""
    rng = random.Random(seed)
    codes = ["2951", "5555", "9233", "8710", "6234", "1000"]
    seen = set(codes)
    while len(codes) < count:
        code = "".join(rng.choice("0123456789") for _ in range(rng.choice((4, 5, 6))))
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes[:count]


@dataclass(frozen=True)
class PhoneCall:
    """One sipp call: the number it calls from and the keys of each round."""

    caller: str
    rounds: tuple[str, ...]

    def fields(self) -> list[str]:
        out = [self.caller]
        for round_ in range(ROUNDS):
            keys = self.rounds[round_] if round_ < len(self.rounds) else ""
            if len(keys) > SLOTS:
                raise ValueError(f"at most {SLOTS} keys a round: {keys!r}")
            for key in keys:
                if key not in KEYS and key != "w":
                    raise ValueError(f"not a key: {key!r}")
            out += [str(PAUSE if key == "w" else KEYS.index(key)) for key in keys]
            out += [str(END)] * (SLOTS - len(keys))
        return out


def write_injection(path: Path, calls: Sequence[PhoneCall]) -> Path:
    lines = ["SEQUENTIAL"] + [";".join(call.fields()) for call in calls]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class SippRun:
    process: subprocess.Popen[bytes]
    log: Path

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)


def start_sipp(
    work: Path,
    calls: Sequence[PhoneCall],
    *,
    sip_port: int,
    local_port: int,
    media_port: int,
    rate: float,
    max_concurrent: int = 2000,
    wait_ms: Sequence[int] = (9000, 12000, 12000, 30000),
    service: str = "0800123456",
) -> SippRun:
    """Start sipp placing ``calls`` at ``rate`` calls/s into Asterisk's PJSIP trunk,
    calling ``service`` (the toll-free number; 0800000099 reaches the dialplan-only
    IVR of the benchmark)."""
    work.mkdir(parents=True, exist_ok=True)
    write_pcaps(work / "p")
    scenario_path = work / "scenario.xml"
    # Relative to sipp's working directory: the scenario must stay under 64 KiB.
    scenario_path.write_text(scenario("p", wait_ms=wait_ms))
    injection = write_injection(work / "calls.csv", calls)
    log = work / "sipp.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(scenario_path), "-inf", str(injection),
             "-m", str(len(calls)), "-r", f"{rate:g}", "-rp", "1000", "-l", str(max_concurrent),
             "-i", "127.0.0.1", "-p", str(local_port), "-mi", "127.0.0.1", "-mp", str(media_port),
             "-s", service, "-timeout", "300", "-max_recv_loops", "10000",
             "-trace_err", "-error_file", str(work / "sipp-errors.log"), "-nostdin"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
        )  # fmt: skip
    return SippRun(process, log)
