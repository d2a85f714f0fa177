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
        "attachment_name": "lampiran",  # the name of an uploaded file that came without one
        # The menu and BANTUAN are built from the registered keywords (hub/messaging/router.py): a
        # keyword's word_, help_, menu_ and command_ sentences.
        "menu_head": "Halo {name}! Ketik angka atau kata kunci:",
        "help_head": "Perintah yang bisa Anda kirim:",
        "help_ack_note": 'Tekan "Sudah dibaca" di bawah setiap pengumuman untuk konfirmasi.',
        "word_help": "BANTUAN",
        "word_stop": "BERHENTI",
        "word_start": "MULAI",
        "word_join": "DAFTAR <kode>",
        "help_help": "menampilkan pesan ini",
        "help_stop": "berhenti menerima pengumuman",
        "help_start": "menerima pengumuman lagi",
        "help_join": "menghubungkan nomor ini dengan kode undangan",
        "menu_help": "daftar perintah",
        "menu_stop": "berhenti menerima pesan",
        "menu_start": "menerima pesan lagi",
        "dialog_cancelled": "Baik, dibatalkan. Ketik BANTUAN untuk melihat daftar perintah.",
        "nothing_to_cancel": "Tidak ada isian yang sedang berjalan untuk dibatalkan.",
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
        "claim_pending": (
            "Kode undangan ini sudah terhubung dengan akun lain. Demi keamanan, petugas kelurahan "
            "perlu mengonfirmasi dulu sebelum akun ini terhubung. Anda akan mendapat pesan "
            "setelah disetujui."
        ),
        "claim_refused": (
            "Maaf, permintaan untuk menghubungkan akun ini tidak disetujui petugas kelurahan. "
            "Silakan hubungi kantor kelurahan jika ada kekeliruan."
        ),
        "claim_alert": (
            "⚠️ {name}, ada yang mencoba menghubungkan akun {channel} lain dengan kode undangan "
            "Anda. Akun itu belum terhubung dan tidak menerima pengumuman sampai petugas "
            "kelurahan memeriksanya. Jika itu bukan Anda, mohon segera kabari kelurahan."
        ),
        "message_received": (
            "Terima kasih, pesan Anda sudah kami terima dan akan diteruskan ke petugas kelurahan. "
            "Ketik BANTUAN untuk melihat daftar perintah."
        ),
        "media_received": (
            "Terima kasih, kiriman Anda sudah kami terima dan akan diteruskan ke petugas kelurahan."
        ),
        "file_too_large": (
            "Maaf, berkas Anda terlalu besar (batas {limit_mb} MB). Kirim berkas yang lebih kecil "
            "atau foto dengan resolusi lebih rendah."
        ),
        "phone_button": "📱 Bagikan nomor saya",
        "share_own_number": (
            "Untuk verifikasi, mohon bagikan nomor Anda sendiri dengan tombol "
            '"Bagikan nomor saya", bukan kontak orang lain.'
        ),
        "phone_verified": "Terima kasih, {name}. Nomor Anda sudah terverifikasi.",
        "phone_mismatch": (
            "Nomor yang Anda bagikan ({phone}) berbeda dengan nomor di data kelurahan. "
            "Petugas kelurahan akan memeriksanya."
        ),
        "phone_unknown": (
            "Nomor {phone} belum terdaftar di {hub}. Permintaan Anda sudah kami teruskan ke "
            "petugas kelurahan; Anda akan dihubungi setelah diperiksa."
        ),
        "join_pending": (
            "Permintaan Anda sudah kami teruskan ke petugas kelurahan. Jika Anda punya kode "
            "undangan, kirim DAFTAR diikuti kodenya."
        ),
        "acknowledged_mark": "✅ Sudah dikonfirmasi",
        "correction_header": "✏️ *KOREKSI* – pengumuman ini menggantikan versi sebelumnya:",
        "correction_title": "KOREKSI: {title}",
        "ack_toast": "Terima kasih, konfirmasi Anda tercatat ✅",
        "ack_toast_already": "Konfirmasi Anda sudah tercatat sebelumnya ✅",
        "ack_toast_unknown": "Anda tidak terdaftar sebagai penerima pengumuman ini.",
        "group_linked": (
            "Grup ini sekarang terhubung dengan {area}. Pengumuman akan dikirim ke sini."
        ),
        "group_bad_code": 'Kode "{code}" tidak berlaku atau sudah kedaluwarsa.',
        "command_help": "Daftar perintah",
        "command_stop": "Berhenti menerima pengumuman",
        "command_start": "Menerima pengumuman lagi",
        "reply_noted": "Terima kasih, tanggapan Anda sudah kami terima.",
        "polite_thanks": "Terima kasih, {name} 🙏",
        # Reminders and the call list of the silent (hub/broadcast/reminders.py)
        "reminder": (
            '🔔 *Pengingat*: pengumuman "{title}" belum Anda konfirmasi.\n\n{summary}\n\n'
            'Mohon baca pengumuman tersebut, lalu tekan tombol "Sudah dibaca".'
        ),
        "call_list_head": (
            '📞 *Daftar telepon: "{title}"*\n'
            "{count} penerima di {area} belum mengonfirmasi setelah {hours} jam. "
            "Mohon hubungi mereka:"
        ),
        "call_list_part": "(bagian {part} dari {parts})",
        "call_list_row": (
            "{number}. {name} – {area}\n{channel} · {status} · {reminders}× diingatkan"
        ),
        "call_list_links": "📞 {tel}\n💬 {wa}",
        "call_list_no_phone": "Nomor telepon tidak ada di data kelurahan.",
        "call_list_link": (
            '📞 *Daftar telepon: "{title}"*\n'
            "{count} penerima di {area} belum mengonfirmasi. Daftar lengkap dengan nomor "
            "telepon: {url}"
        ),
        "channel_telegram": "Telegram",
        "channel_whatsapp": "WhatsApp",
        "channel_sandbox": "Sandbox",
        "channel_none": "tanpa kanal",
        "status_pending": "belum terkirim",
        "status_sent": "terkirim",
        "status_delivered": "diterima",
        "status_read": "dibaca",
        "status_failed": "gagal terkirim",
        "status_skipped": "berhenti berlangganan",
    },
    "en": {
        "ack_button": "✅ I have read it",
        "ack_thanks": 'Thank you, {name}. Your confirmation of "{title}" is recorded.',
        "ack_already": 'Your confirmation of "{title}" was already recorded. Thank you.',
        "ack_unknown": "Sorry, that announcement was not found for you.",
        "broadcast": "📢 *{title}*\n\n{text}\n\n— {hub}",
        "broadcast_ack_hint": 'Please tap "I have read it" once you have read this.',
        "attachment_name": "attachment",
        "menu_head": "Hello {name}! Type a number or keyword:",
        "help_head": "Commands you can send:",
        "help_ack_note": 'Tap "I have read it" below each announcement to confirm.',
        "word_help": "HELP",
        "word_stop": "STOP",
        "word_start": "START",
        "word_join": "JOIN <code>",
        "help_help": "this message",
        "help_stop": "stop announcements",
        "help_start": "receive announcements again",
        "help_join": "link this number with an invite code",
        "menu_help": "list of commands",
        "menu_stop": "stop receiving messages",
        "menu_start": "receive messages again",
        "dialog_cancelled": "All right, cancelled. Type HELP for the commands.",
        "nothing_to_cancel": "There is nothing in progress to cancel.",
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
        "claim_pending": (
            "This invite code is already linked to another account. For safety the kelurahan "
            "staff must confirm before this account is linked. You will get a message once it "
            "is approved."
        ),
        "claim_refused": (
            "Sorry, the kelurahan staff did not approve linking this account. Please contact the "
            "kelurahan office if this is a mistake."
        ),
        "claim_alert": (
            "⚠️ {name}, someone tried to link another {channel} account with your invite code. "
            "That account is not linked and gets no announcements until the kelurahan staff have "
            "checked it. If it was not you, please tell the kelurahan."
        ),
        "message_received": (
            "Thank you, we received your message and will pass it to the kelurahan staff. "
            "Type HELP for the commands."
        ),
        "media_received": "Thank you, we received it and will pass it to the kelurahan staff.",
        "file_too_large": "Sorry, your file is too large (limit {limit_mb} MB).",
        "phone_button": "📱 Share my number",
        "share_own_number": "Please share your own number with the button, not another contact.",
        "phone_verified": "Thank you, {name}. Your number is verified.",
        "phone_mismatch": (
            "The number you shared ({phone}) differs from the one the kelurahan has. "
            "The staff will look into it."
        ),
        "phone_unknown": (
            "The number {phone} is not registered with {hub}. We passed your request to the "
            "kelurahan staff."
        ),
        "join_pending": (
            "We passed your request to the kelurahan staff. If you have an invite code, send JOIN "
            "followed by the code."
        ),
        "acknowledged_mark": "✅ Confirmed",
        "correction_header": "✏️ *CORRECTION* – this replaces the earlier announcement:",
        "correction_title": "CORRECTION: {title}",
        "ack_toast": "Thank you, your confirmation is recorded ✅",
        "ack_toast_already": "Your confirmation was already recorded ✅",
        "ack_toast_unknown": "You are not a recipient of this announcement.",
        "group_linked": "This group is now linked to {area}. Announcements will be posted here.",
        "group_bad_code": 'The code "{code}" is not valid or has expired.',
        "command_help": "List of commands",
        "command_stop": "Stop receiving announcements",
        "command_start": "Receive announcements again",
        "reply_noted": "Thank you, we have received your reply.",
        "polite_thanks": "Thank you, {name} 🙏",
        "reminder": (
            '🔔 *Reminder*: you have not yet confirmed the announcement "{title}".\n\n'
            '{summary}\n\nPlease read it, then tap "I have read it".'
        ),
        "call_list_head": (
            '📞 *Call list: "{title}"*\n'
            "{count} recipients in {area} have not confirmed after {hours} hours. "
            "Please call them:"
        ),
        "call_list_part": "(part {part} of {parts})",
        "call_list_row": "{number}. {name} – {area}\n{channel} · {status} · reminded {reminders}×",
        "call_list_links": "📞 {tel}\n💬 {wa}",
        "call_list_no_phone": "No phone number in the kelurahan's roster.",
        "call_list_link": (
            '📞 *Call list: "{title}"*\n'
            "{count} recipients in {area} have not confirmed. The full list with phone "
            "numbers: {url}"
        ),
        "channel_none": "no channel",
        "status_pending": "not sent yet",
        "status_sent": "sent",
        "status_delivered": "delivered",
        "status_read": "read",
        "status_failed": "failed",
        "status_skipped": "opted out",
    },
}


def text(language: str, key: str, **values: Any) -> str:
    """The sentence `key` in `language` (falling back to Indonesian), filled with `values`."""
    table = _TEXTS.get(language, _TEXTS["id"])
    template = table.get(key) or _TEXTS["id"][key]
    return template.format(**values)
