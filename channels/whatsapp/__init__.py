"""The WhatsApp channel: Meta's WhatsApp Cloud API (the Graph API) over one aiohttp session.

Addresses are E.164 numbers with a plus ("+6281234567890"), as the roster stores them, or
"bsuid:<business-scoped user id>" for people whose number WhatsApp withholds (usernames). The
platform's message ids are wamids ("wamid.HBgN...").

The 24-hour window: WhatsApp takes free text, buttons and media only within 24 hours of the person's
last message to us (`Outgoing.last_inbound_at`; a few minutes' margin is kept for clocks and
queues). `Channel.window_open` is the rule, the same one the hub queues by, so what the hub queues
as free text still goes as free text here. Outside it the message goes as the approved template
named by `Outgoing.template` ("broadcast", "reminder" or "call_list" in `[whatsapp]`) and the
result says `used_template=True`; with no template it fails for good as WINDOW_CLOSED. A
free-form send that WhatsApp refuses with 131047 (window closed after all) is sent once more as
the template.

Buttons: up to 3 go out as interactive reply buttons, 4 to 10 as an interactive list; more are
refused. An interactive message's body holds 1024 characters where a text message holds 4096: a
longer text with buttons goes as two messages, the whole text first and then the buttons under the
text's last paragraph. The SendResult's external id is the first (text) message's: receipts are
counted on it. A tap on the buttons answers the second message (its `reply_to`), which the hub
matches by the button's payload. The phone button of an Outgoing is not shown: WhatsApp vouches for
the sender's number on every message anyway. WhatsApp cannot edit a sent message (can_edit False).

Polls: WhatsApp has none for businesses (native_polls False), so an Outgoing's poll goes as its
text with the options as buttons carrying the hub's payloads (Outgoing.poll_buttons()). When an
option is longer than a title takes (20 characters on a button, 24 in a list), every title shows
its number ("2. Setuju dengan…") and the body lists the options in full, numbered.

Files: an image (JPEG or PNG up to 5 MB) or a document, with the text as its caption, inside the
window only. Each file is uploaded once (`/{phone_number_id}/media`) and sent by its media id, kept
in memory by content hash for 29 days (Meta keeps it 30). Buttons cannot ride on a file, so an
Outgoing with both sends its text with the buttons and reports the file left out
(`SendResult.left_out_files`), as does the template that carries a message outside the window:
the hub sends the file on its own once the window is open.

The access token travels only in the Authorization header; every text that leaves this package
(errors, log lines, readiness) has it and the app secret replaced by "<secret>".

The modules, by concern (as Courier's handlers/meta/whatsapp): `channel` (the Channel: lifecycle,
sending, media, webhooks), `payloads` (notifications into events), `api` (Meta's error codes as
the SendError family), `messages` (recipients, text, buttons and lists), `templates` (the purpose
table and template payloads).
"""

from channels.capabilities import MediaTooLarge
from channels.whatsapp.api import (
    MAX_MEDIA_BYTES,
    SPAM_PAUSED,
    THROUGHPUT_RETRY_AFTER,
    GraphError,
    send_error_from,
)
from channels.whatsapp.channel import WhatsAppChannel
from channels.whatsapp.payloads import NAME, SIGNATURE_HEADER, parse_notification
from channels.whatsapp.templates import template_parameters

__all__ = [
    "MAX_MEDIA_BYTES",
    "NAME",
    "SIGNATURE_HEADER",
    "SPAM_PAUSED",
    "THROUGHPUT_RETRY_AFTER",
    "GraphError",
    "MediaTooLarge",
    "WhatsAppChannel",
    "parse_notification",
    "send_error_from",
    "template_parameters",
]
