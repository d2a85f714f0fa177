"""Demo only: simulated RT heads read and acknowledge by themselves, so a newcomer sees counts move.

Each phone gets a persona from a hash of its address: most are active (read within seconds, tap
"Sudah dibaca" soon after), some passive (read late, acknowledge only sometimes), a few silent.
They act through the sandbox channel, the same path a person on the phone page takes.
"""

from __future__ import annotations

import hashlib
import logging

from channels.sandbox import SandboxChannel
from hub.broadcast.deliveries import ACK_PREFIX
from hub.runtime import Hub

log = logging.getLogger(__name__)

# persona → (seconds until reading, seconds until acknowledging or None for never)
PERSONAS = {
    "active": (8, 20),
    "passive": (45, 120),
    "silent": (None, None),
}


def persona(address: str) -> str:
    bucket = int(hashlib.sha256(address.encode()).hexdigest(), 16) % 20
    if bucket < 13:
        return "active"
    if bucket < 17:
        return "passive"
    return "silent"


def _spread(address: str, message_id: str, base: int) -> float:
    """A stable per-message delay between base and 3 × base seconds."""
    h = int(hashlib.sha256(f"{address}/{message_id}".encode()).hexdigest(), 16) % 1000
    return base * (1 + 2 * h / 1000)


async def act_as_demo_members(hub: Hub) -> dict[str, int]:
    channel = hub.channels.get("sandbox")
    if not isinstance(channel, SandboxChannel):
        return {"read": 0, "acknowledged": 0}
    now = hub.clock()
    opened = acknowledged = 0
    for address in channel.addresses():
        read_after, ack_after = PERSONAS[persona(address)]
        if read_after is None:
            continue
        messages = channel.messages(address)
        waiting = [
            m
            for m in messages
            if not m.read
            and (now - m.sent_at).total_seconds() >= _spread(address, m.id, read_after)
        ]
        if waiting:
            await channel.open_chat(address)
            opened += 1
        if ack_after is None:
            continue
        for message in messages:
            for button in message.buttons:
                if not button.payload.startswith(ACK_PREFIX) or channel.pressed(
                    address, button.payload
                ):
                    continue
                if persona(address) == "passive" and _spread(address, message.id, 1) > 2:
                    continue  # passive RT heads leave about half unacknowledged
                if (now - message.sent_at).total_seconds() >= _spread(
                    address, message.id, ack_after
                ):
                    await channel.act(address, button=button.payload)
                    acknowledged += 1
    return {"read": opened, "acknowledged": acknowledged}
