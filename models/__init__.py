"""Tortoise ORM models: the database, and nothing of the layers above it."""

from models.broadcasts import (
    Attachment,
    Broadcast,
    BroadcastArea,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    PublishedText,
)
from models.config import MODEL_MODULES
from models.conversations import Conversation, InboundEvent
from models.feedback import (
    FeedbackFile,
    InboxDirection,
    InboxMessage,
    Poll,
    PollStatus,
    PollVote,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketStatus,
)
from models.groups import GroupChat, GroupLinkCode, JoinRequest
from models.insight import ScorecardNote, WeeklyReport
from models.leases import Lease
from models.outbox import MessageKind, OutboundMessage, OutboxState
from models.roster import (
    Area,
    AreaKind,
    ChannelAddress,
    Member,
    MemberGroup,
    MemberGroupEntry,
    Seat,
    SeatRole,
)
from models.users import ApiToken, AuditLog, User, UserRole, WebSession

__all__ = [
    "MODEL_MODULES",
    "ApiToken",
    "Area",
    "AreaKind",
    "Attachment",
    "AuditLog",
    "Broadcast",
    "BroadcastArea",
    "BroadcastStatus",
    "ChannelAddress",
    "Conversation",
    "Delivery",
    "DeliveryStatus",
    "FeedbackFile",
    "GroupChat",
    "GroupLinkCode",
    "InboundEvent",
    "InboxDirection",
    "InboxMessage",
    "JoinRequest",
    "Lease",
    "Member",
    "MemberGroup",
    "MemberGroupEntry",
    "MessageKind",
    "OutboundMessage",
    "OutboxState",
    "Poll",
    "PollStatus",
    "PollVote",
    "PublishedText",
    "ScorecardNote",
    "Seat",
    "SeatRole",
    "Ticket",
    "TicketCounter",
    "TicketEvent",
    "TicketEventKind",
    "TicketKind",
    "TicketStatus",
    "User",
    "UserRole",
    "WebSession",
    "WeeklyReport",
]
