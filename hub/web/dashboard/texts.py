"""Every sentence and label the dashboard code says; the rest of the wording is in templates."""

from __future__ import annotations

TEXTS = {
    "login_failed": "Nama pengguna atau kata sandi salah",
    "login_throttled": "Terlalu banyak percobaan, coba lagi dalam {seconds} detik",
    "login_expired": "Formulir masuk kedaluwarsa. Silakan coba lagi.",
    "csrf_failed": "Permintaan ditolak karena token keamanan tidak cocok. Muat ulang halaman.",
    "forbidden": "Anda tidak berwenang membuka atau melakukan ini.",
    "read_only": "Akun pejabat hanya dapat melihat; membuat dan mengubah tidak diizinkan.",
    "not_found": "Halaman atau data yang dicari tidak ditemukan.",
    "bad_request": "Permintaan tidak dapat diproses.",
    "busy": "Basis data sedang sibuk (misalnya ada impor roster). Coba lagi beberapa detik lagi.",
    "title_empty": "Judul wajib diisi.",
    "title_long": "Judul terlalu panjang (maksimal {limit} karakter).",
    "text_empty": "Isi pengumuman wajib diisi.",
    "text_long": "Isi pengumuman terlalu panjang (maksimal {limit} karakter).",
    "areas_empty": "Pilih minimal satu wilayah penerima.",
    "areas_nobody": "Belum ada ketua RT yang menjabat di wilayah yang dipilih.",
    "areas_unknown": "Wilayah yang dipilih tidak dikenal.",
    "areas_forbidden": "Wilayah yang dipilih berada di luar wilayah Anda.",
    "form_invalid": "Pengumuman belum dibuat. Periksa isian yang ditandai.",
    "created": "Pengumuman dibuat dan sedang dikirim.",
    "cancelled": "Pengumuman dibatalkan; pesan yang belum terkirim tidak akan dikirim.",
    "not_cancellable": "Pengumuman ini sudah selesai atau sudah dibatalkan.",
    "paused": "Pengumuman ditahan; tidak ada yang dikirim sampai dilanjutkan.",
    "resumed": "Pengumuman dijadwalkan lagi.",
    "not_pausable": "Hanya pengumuman terjadwal yang dapat ditahan atau dilanjutkan.",
    "corrected": "Koreksi disimpan dan sedang dikirim ke penerima.",
    "nothing_to_correct": "Koreksi tidak mengubah apa pun.",
    "correction_refused": "Koreksi tidak dapat disimpan: {reason}",
    "sandbox_failed": "Aksi tidak dapat dilakukan di ponsel simulasi.",
    "sandbox_no_button": "Tombol itu tidak ada lagi di ponsel ini.",
    "sandbox_empty": "Ketik pesan atau tekan salah satu tombol.",
    "group_area_empty": "Pilih wilayah grup.",
    "attachment_too_large": "Berkas terlalu besar (maksimal {limit} MB per berkas).",
    "attachment_type_not_allowed": "Hanya berkas PDF, JPEG atau PNG yang dapat dilampirkan.",
    "attachment_empty": "Berkas yang dipilih kosong.",
    "unknown_attachment": "Lampiran tidak ditemukan; unggah ulang berkasnya.",
    "too_many_attachments": "Terlalu banyak lampiran (maksimal {limit} berkas).",
    "groups_unknown": "Grup yang dipilih tidak ditemukan lagi.",
    "send_at_missing": "Isi tanggal dan jam kirim.",
    "send_at_invalid": "Tanggal dan jam kirim tidak dapat dibaca.",
    "send_at_past": "Waktu kirim sudah lewat.",
    "cron_missing": "Isi jadwal cron, misalnya 0 8 * * 1.",
    "cron_invalid": "Jadwal cron tidak valid: {reason}",
    "cron_too_frequent": "Jadwal berulang paling sering sekali per jam.",
    "scheduled": "Pengumuman dijadwalkan.",
    "group_saved": "Kelompok penerima disimpan.",
    "group_deleted": "Kelompok penerima dihapus.",
    "group_exists": "Sudah ada kelompok dengan nama itu.",
    "group_name_empty": "Nama kelompok wajib diisi.",
    "group_in_use": (
        "Kelompok ini masih menjadi penerima pengumuman terjadwal ({ids}). "
        "Ubah atau batalkan pengumuman itu dahulu."
    ),
    "group_spans_areas": "Semua anggota kelompok harus berada di salah satu wilayah Anda.",
    "claim_approved": "Akun disetujui dan sekarang terhubung dengan ketua RT tersebut.",
    "claim_refused": "Permintaan ditolak; akun itu tidak terhubung.",
    "claim_resolved": "Permintaan ini sudah diselesaikan sebelumnya atau akunnya sudah terhubung.",
    "claim_gone": "Permintaan tidak dapat disetujui: ketua RT yang disebut tidak ada lagi.",
    # Kotak masuk (hub/web/dashboard/inbox.py)
    "inbox_replied": "Balasan disimpan dan sedang dikirim ke ketua RT.",
    "inbox_reply_empty": "Tulis balasan terlebih dahulu.",
    "inbox_reply_long": "Balasan terlalu panjang (maksimal {limit} karakter).",
    "inbox_unreachable": "Ketua RT ini tidak dapat dihubungi di kanal mana pun yang aktif.",
    "inbox_window_closed": (
        "Jendela balasan bebas di kanal ini sudah tertutup (WhatsApp: 24 jam setelah pesan "
        "terakhir ketua RT). Balasan dikirim sebagai templat resmi yang sudah disetujui; isi "
        "balasan Anda dimuat di dalamnya sebagai satu baris (baris baru menjadi spasi, dipotong "
        "bila lebih dari sekitar 800 karakter). Tidak ada kiriman ulang setelah ketua RT "
        "membalas."
    ),
    "inbox_ticket_made": "Tiket {number} dibuat; ketua RT sudah diberi tahu nomornya.",
    "inbox_ticket_twice": "Pesan ini sudah dijadikan tiket sebelumnya.",
    "inbox_ticket_invalid": "Tiket belum dibuat: periksa jenis, kategori dan isinya.",
    "inbox_ticket_rate": "Tiket belum dibuat: ketua RT ini sudah mencapai batas tiket per jam.",
}

BROADCAST_STATUS = {
    "scheduled": "Terjadwal",
    "paused": "Ditahan",
    "sending": "Sedang dikirim",
    "sent": "Selesai dikirim",
    "cancelled": "Dibatalkan",
    "missed": "Terlewat",
}

DELIVERY_STATUS = {
    "pending": "Menunggu",
    "sent": "Terkirim",
    "delivered": "Diterima",
    "read": "Dibaca",
    "acknowledged": "Dikonfirmasi",
    "failed": "Gagal",
    "skipped": "Dilewati",
    "cancelled": "Dibatalkan",
}

FAILURE_REASONS = {
    "no_channel": "Tidak punya alamat di kanal yang aktif",
    "opted_out": "Berhenti berlangganan",
    "blocked": "Memblokir atau tidak dapat dihubungi",
}

# Tickets (aduan and permohonan layanan): status names, and the notices after an action.
TICKET_STATUS = {
    "baru": "Baru",
    "diverifikasi": "Diverifikasi",
    "diproses": "Diproses",
    "selesai": "Selesai",
    "ditolak": "Ditolak",
    "diteruskan": "Diteruskan",
}
TICKET_KINDS = {"aduan": "Aduan", "layanan": "Permohonan layanan"}
TICKET_NOTICES = {
    "moved": "Status tiket diubah; ketua RT diberi tahu.",
    "move_refused": "Status tidak dapat diubah: tiket sudah berubah atau langkah itu tidak "
    "diizinkan. Muat ulang halaman.",
    "reason_missing": "Isi alasan penolakan; alasan itu dikirim ke ketua RT.",
    "office_missing": "Isi instansi tujuan penerusan.",
    "note_invalid": "Catatan kosong atau terlalu panjang.",
    "noted": "Catatan internal disimpan.",
    "messaged": "Pesan dikirim ke ketua RT.",
    "assigned": "Penanggung jawab tiket disimpan.",
    "assignee_refused": "Pengguna itu tidak aktif atau tidak dapat melihat wilayah tiket ini.",
}

CHANNELS = {"sandbox": "Sandbox", "telegram": "Telegram", "whatsapp": "WhatsApp"}
ROLES = {"admin": "Admin", "staff": "Staf", "official": "Pejabat"}
AREA_KINDS = {"kecamatan": "Kecamatan", "kelurahan": "Kelurahan", "rw": "", "rt": ""}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")

# Jajak pendapat (hub/web/dashboard/polls.py): what the poll form says about a refused field.
POLL_TEXTS = {
    "empty_question": "Pertanyaan wajib diisi.",
    "question_too_long": "Pertanyaan terlalu panjang (maksimal 300 karakter).",
    "option_count": "Tulis 2 sampai 10 pilihan jawaban, satu per baris.",
    "empty_option": "Ada pilihan jawaban yang kosong.",
    "option_too_long": "Setiap pilihan jawaban paling panjang 100 karakter.",
    "duplicate_options": "Ada dua pilihan jawaban yang sama.",
    "past_closing": "Waktu tutup harus di masa depan.",
    "closes_at_invalid": "Waktu tutup tidak dapat dibaca.",
    "poll_closed": "Jajak pendapat ini sudah ditutup.",
    "open": "Dibuka",
    "closed": "Ditutup",
}
