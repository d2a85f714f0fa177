"""CEK <kode> on an RT head's phone (the sandbox): the announcement the code belongs to with its
date, a plain "not found", the way to use it, a sentence for the staff left to the inbox, and
CEK in BANTUAN."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub.app import HUB, Hub
from models import InboxMessage, Member
from tests.archive.conftest import correct, create, phone, received
from tests.conftest import PUBLIC_URL, FakeClock


async def send(hub: Hub, member: Member, text: str) -> list[str]:
    """The member types `text`; what the phone shows afterwards."""
    address = f"sandbox-{member.id}"
    before = len(phone(hub).messages(address))
    await phone(hub).act(address, text=text)
    return (await received(hub, member))[before:]


async def test_cek_names_the_announcement_of_a_genuine_code(
    timed: TestClient, clock: FakeClock, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    shown = await create(timed, staff)  # 4 March 2030, 10:00 WITA
    code = shown["verification_code"]
    await received(hub, rt_heads[1])
    [answer] = await send(hub, rt_heads[1], f"cek {code.lower().replace('-', ' ')}")
    assert answer.startswith(f"✅ Asli. Kode {code} adalah pengumuman resmi Balai Warga")
    assert '"Kerja bakti"' in answer and "4 Maret 2030" in answer
    assert f"{PUBLIC_URL}/arsip/{code}" in answer
    assert "dikoreksi" not in answer

    clock.advance(days=1)
    await correct(timed, staff, shown["id"], "Kerja bakti diundur sepekan.")
    await received(hub, rt_heads[1])
    [answer] = await send(hub, rt_heads[1], f"CEK {code}")
    assert "dikoreksi pada 5 Maret 2030" in answer


async def test_cek_says_plainly_when_a_code_is_no_announcement(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    later = "2030-03-20T08:00:00+08:00"
    scheduled = await create(timed, staff, send_at=later)  # its code is not public yet
    for code in ("7QK-2M4", scheduled["verification_code"]):
        [answer] = await send(hub, rt_heads[0], f"CEK {code}")
        assert answer.startswith(f"❌ Tidak ditemukan: kode {code}")


async def test_cek_without_a_code_explains_itself_and_a_sentence_goes_to_the_staff(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    for typed in ("CEK", "cek 7QK-2MO", "CEKK"):
        [answer] = await send(hub, rt_heads[0], typed)
        assert answer.startswith("Kirim CEK diikuti kode cek"), typed
    assert await InboxMessage.all().count() == 0

    await send(hub, rt_heads[0], "Cek dulu saluran di RT 3 ya pak, sudah mampet")
    [message] = await InboxMessage.all()
    assert message.text.startswith("Cek dulu saluran")


async def test_cek_is_in_the_help(timed: TestClient, staff: str, rt_heads: list[Member]) -> None:
    [answer] = await send(timed.app[HUB], rt_heads[0], "BANTUAN")
    assert "CEK <kode> – memeriksa keaslian pengumuman" in answer
    assert ("cek", "Cek keaslian pengumuman") in timed.app[HUB].router.platform_commands("id")
