"""Every sentence the hub says to RT heads, in Bahasa Indonesia first and English second."""

from __future__ import annotations

from typing import Any

_TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "ack_button": "✅ Sudah dibaca",
        "ack_thanks": 'Terima kasih, {name}. Konfirmasi Anda untuk "{title}" sudah kami catat.',
        "ack_already": 'Konfirmasi untuk "{title}" sudah tercatat sebelumnya. Terima kasih.',
        "ack_unknown": "Maaf, pengumuman itu tidak ditemukan untuk Anda.",
        "broadcast": "📢 *{title}*\n\n{text}\n\n— {hub}",
        "broadcast_ack_hint": 'Mohon tekan tombol "Sudah dibaca" setelah membaca.',
        "menu": (
            "Halo {name}! Ketik angka atau kata kunci:\n"
            "1. BANTUAN – daftar perintah\n"
            "2. BERHENTI – berhenti menerima pesan\n"
            "3. MULAI – menerima pesan lagi"
        ),
        "help": (
            "Perintah yang bisa Anda kirim:\n"
            "• BANTUAN – menampilkan pesan ini\n"
            "• BERHENTI – berhenti menerima pengumuman\n"
            "• MULAI – menerima pengumuman lagi\n"
            "• DAFTAR <kode> – menghubungkan nomor ini dengan kode undangan\n"
            'Tekan "Sudah dibaca" di bawah setiap pengumuman untuk konfirmasi.'
        ),
        "unknown_command": (
            'Maaf, kami belum memahami "{text}". Ketik BANTUAN untuk melihat daftar perintah.'
        ),
        "did_you_mean": "Maaf, maksud Anda {suggestion}? Ketik {suggestion} untuk melanjutkan.",
        "opted_out": (
            "Anda tidak akan menerima pengumuman lagi di sini. Ketik MULAI kapan saja untuk "
            "menerima lagi."
        ),
        "opted_in": "Selamat datang kembali, {name}. Anda akan menerima pengumuman lagi.",
        "stranger": (
            "Halo! Nomor ini belum terdaftar di {hub}. Jika Anda ketua RT, kirim DAFTAR diikuti "
            "kode undangan dari kelurahan, misalnya: DAFTAR AB12CD34."
        ),
        "joined": (
            "Terima kasih, {name}. Akun ini sekarang terhubung sebagai {area}. "
            "Ketik BANTUAN untuk melihat perintah."
        ),
        "bad_code": (
            'Kode undangan "{code}" tidak ditemukan. Periksa kembali kode dari kelurahan Anda.'
        ),
        "reply_noted": "Terima kasih, tanggapan Anda sudah kami terima.",
    },
    "en": {
        "ack_button": "✅ I have read it",
        "ack_thanks": 'Thank you, {name}. Your confirmation of "{title}" is recorded.',
        "ack_already": 'Your confirmation of "{title}" was already recorded. Thank you.',
        "ack_unknown": "Sorry, that announcement was not found for you.",
        "broadcast": "📢 *{title}*\n\n{text}\n\n— {hub}",
        "broadcast_ack_hint": 'Please tap "I have read it" once you have read this.',
        "menu": (
            "Hello {name}! Type a number or keyword:\n"
            "1. HELP – list of commands\n2. STOP – stop receiving messages\n"
            "3. START – receive messages again"
        ),
        "help": (
            "Commands you can send:\n• HELP – this message\n• STOP – stop announcements\n"
            "• START – receive announcements again\n"
            "• JOIN <code> – link this number with an invite code\n"
            'Tap "I have read it" below each announcement to confirm.'
        ),
        "unknown_command": 'Sorry, we did not understand "{text}". Type HELP for the commands.',
        "did_you_mean": "Sorry, did you mean {suggestion}? Type {suggestion} to go on.",
        "opted_out": "You will not receive announcements here any more. Type START to resume.",
        "opted_in": "Welcome back, {name}. You will receive announcements again.",
        "stranger": (
            "Hello! This number is not registered with {hub}. If you are an RT head, send JOIN "
            "followed by the invite code from the kelurahan, e.g. JOIN AB12CD34."
        ),
        "joined": (
            "Thank you, {name}. This account is now linked as {area}. Type HELP for commands."
        ),
        "bad_code": (
            'Invite code "{code}" was not found. Please check the code from your kelurahan.'
        ),
        "reply_noted": "Thank you, we have received your reply.",
    },
}


def text(language: str, key: str, **values: Any) -> str:
    """The sentence `key` in `language` (falling back to Indonesian), filled with `values`."""
    table = _TEXTS.get(language, _TEXTS["id"])
    template = table.get(key) or _TEXTS["id"][key]
    return template.format(**values)
