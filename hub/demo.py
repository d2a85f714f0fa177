"""`hub demo`: a fictional kecamatan on the sandbox channel, in its own database file.

The seed goes through the real roster import. The demo login's password is generated once and kept
beside the demo database (readable by its owner only), so every start can print it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from channels.sandbox import SandboxChannel
from hub.access import audit
from hub.access.auth import Scope, create_user, generate_password, hash_password
from hub.broadcast.service import BroadcastRequest, create_broadcast
from hub.core.config import Config
from hub.core.db import close_database, open_database
from hub.core.timeutil import utcnow
from hub.roster.importer import import_rows
from models import Member, User, UserRole

DEMO_USER = "demo"
KECAMATAN = "Sungai Rindang"
# Kelurahan of the fictional kecamatan, with how many RTs each has.
KELURAHAN = {
    "Loa Harapan": 12,
    "Karang Asri": 10,
    "Teluk Damai": 8,
    "Air Putih Baru": 6,
}
_FIRST = [
    "Ahmad",
    "Siti",
    "Budi",
    "Rahmat",
    "Nur",
    "Yusuf",
    "Dewi",
    "Hasan",
    "Rina",
    "Agus",
    "Fatimah",
    "Joko",
    "Sri",
    "Andi",
    "Wahyu",
    "Lestari",
    "Hendra",
    "Ratna",
    "Syamsul",
    "Ani",
]
_LAST = [
    "Saputra",
    "Hidayat",
    "Rahman",
    "Wijaya",
    "Kurniawan",
    "Lestari",
    "Pratama",
    "Nasution",
    "Siregar",
    "Daeng",
    "Baso",
    "Hamzah",
    "Sulaiman",
    "Ramadhan",
    "Aritonang",
]


def demo_config(config: Config) -> Config:
    """The demo's own database file, the sandbox channel only."""
    data_dir = Path(config.hub.data_dir)
    config = config.replace("database", url=f"sqlite://{data_dir / 'demo.sqlite3'}")
    config = config.replace("sandbox", enabled=True)
    config = config.replace("telegram", enabled=False)
    config = config.replace("whatsapp", enabled=False)
    return config.replace("hub", name=f"Kelurahan Demo · {config.hub.name}")


def demo_rows() -> list[tuple[int, dict[str, str]]]:
    """Roster rows for every RT head of the fictional kecamatan (line 1 is the header)."""
    rng = random.Random(2022)  # the same people on every machine
    rows = []
    line = 2
    for kelurahan_index, (kelurahan, rt_count) in enumerate(KELURAHAN.items()):
        for rt in range(1, rt_count + 1):
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            rows.append(
                (
                    line,
                    {
                        "kecamatan": KECAMATAN,
                        "kelurahan": kelurahan,
                        "rw": "",
                        "rt": f"{rt:03d}",
                        "name": name,
                        # Fictional numbers; the demo sends nothing outside the sandbox.
                        "phone": f"0811-90{kelurahan_index}{rt:02d}-{rng.randrange(1000, 9999)}",
                        "preferred_channel": "sandbox",
                        "role": "ketua_rt",
                    },
                )
            )
            line += 1
    return rows


def _password_file(config: Config) -> Path:
    return Path(config.hub.data_dir) / "demo-login.txt"


async def _demo_password(config: Config) -> str:
    """The demo login's password: from its file, or a new one (set on the account)."""
    path = _password_file(config)
    user = await User.get_or_none(username=DEMO_USER)
    if user is not None and path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = generate_password()
    if user is None:
        await create_user(DEMO_USER, password, UserRole.ADMIN)
    else:
        await User.filter(id=user.id).update(password_hash=hash_password(password))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return password


async def prepare_demo(config: Config) -> tuple[Config, str]:
    """Seed the demo database on first start; returns its config and the banner to print."""
    config = demo_config(config)
    await open_database(config.database.url)
    try:
        if not await Member.exists():
            report = await import_rows(demo_rows())
            if report.rejected:  # the seed is ours: a rejected row is a bug, not bad input
                raise RuntimeError(f"demo seed rejected rows: {report.rejected[:3]}")
            await audit.record(None, "demo.seed", KECAMATAN, created=report.created)
        password = await _demo_password(config)
        user = await User.get(username=DEMO_USER)
        if not await user.broadcasts.all().exists():
            await create_broadcast(
                config,
                BroadcastRequest(
                    title="Selamat datang di Balai Warga",
                    text='Ini pengumuman contoh. Tekan tombol "Sudah dibaca" setelah membaca.',
                    areas=[f"{KECAMATAN}/Loa Harapan"],
                    publish=True,  # in the public archive, with its verification code
                ),
                user=user,
                scope=await Scope.of(user),
                enabled_channels={"sandbox": SandboxChannel},
                now=utcnow(),
            )
            # A weekly one, to show recurring broadcasts and their runs.
            await create_broadcast(
                config,
                BroadcastRequest(
                    title="Jadwal ronda pekan ini",
                    text="Pengingat mingguan: mohon bagikan jadwal ronda kepada warga RT Anda.",
                    areas=[f"{KECAMATAN}/Karang Asri"],
                    recurrence="0 8 * * 1",
                ),
                user=user,
                scope=await Scope.of(user),
                enabled_channels={"sandbox": SandboxChannel},
                now=utcnow(),
            )
    finally:
        await close_database()
    url = config.hub.public_url.rstrip("/")
    banner = "\n".join(
        [
            "",
            "Balai Warga — demo siap / demo ready",
            f"  Dasbor (dashboard):   {url}/",
            f"  Login:                {DEMO_USER} / {password}",
            f"  Ponsel simulasi:      {url}/sandbox",
            f"  Arsip publik:         {url}/arsip",
            f"  API (OpenAPI):        {url}/api/v1/openapi.json",
            "  Berhenti: Ctrl+C",
            "",
        ]
    )
    return config, banner
