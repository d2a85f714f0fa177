from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.feedback import InboxDirection, PollStatus, TicketEventKind, TicketKind, TicketStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_dialogs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Poll',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('broadcast', fields.OneToOneField('models.Broadcast', source_field='broadcast_id', db_constraint=True, to_field='id', related_name='poll', on_delete=OnDelete.CASCADE)),
                ('question', fields.CharField(max_length=300)),
                ('options', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=PollStatus.OPEN, description='PollStatus', enum_type=PollStatus, max_length=16)),
                ('closes_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('send_result', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'poll', 'app': 'models', 'indexes': [Index(fields=['status', 'closes_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PollVote',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll', fields.ForeignKeyField('models.Poll', source_field='poll_id', db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='poll_votes', on_delete=OnDelete.CASCADE)),
                ('delivery', fields.ForeignKeyField('models.Delivery', source_field='delivery_id', null=True, db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.SET_NULL)),
                ('option', fields.IntField()),
                ('channel', fields.CharField(max_length=20)),
                ('voted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'poll_vote', 'app': 'models', 'unique_together': (('poll', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Ticket',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('kind', fields.CharEnumField(description='TicketKind', enum_type=TicketKind, max_length=16)),
                ('category', fields.CharField(max_length=100)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.SET_NULL)),
                ('area', fields.ForeignKeyField('models.Area', source_field='area_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharField(max_length=20)),
                ('address', fields.CharField(max_length=100)),
                ('description', fields.TextField(unique=False)),
                ('location', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=TicketStatus.NEW, description='TicketStatus', enum_type=TicketStatus, max_length=16)),
                ('assignee', fields.ForeignKeyField('models.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned_tickets', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('reference', fields.CharField(null=True, max_length=100)),
                ('forwarded_to', fields.CharField(null=True, max_length=200)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('followup_due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('followup_sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reopened', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'ticket', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at']), Index(fields=['area_id', 'status']), Index(fields=['member_id', 'created_at']), Index(fields=['followup_due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.CASCADE)),
                ('area', fields.ForeignKeyField('models.Area', source_field='area_id', null=True, db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.SET_NULL)),
                ('direction', fields.CharEnumField(description='InboxDirection', enum_type=InboxDirection, max_length=8)),
                ('channel', fields.CharField(max_length=20)),
                ('address', fields.CharField(max_length=100)),
                ('text', fields.TextField(default='', unique=False)),
                ('kind', fields.CharField(default='text', max_length=20)),
                ('external_id', fields.CharField(null=True, max_length=128)),
                ('outbound', fields.ForeignKeyField('models.OutboundMessage', source_field='outbound_id', null=True, db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.SET_NULL)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='inbox_replies', on_delete=OnDelete.SET_NULL)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbox_message', 'app': 'models', 'indexes': [Index(fields=['member_id', 'id']), Index(fields=['area_id', 'direction', 'read_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FeedbackFile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='files', on_delete=OnDelete.CASCADE)),
                ('inbox_message', fields.ForeignKeyField('models.InboxMessage', source_field='inbox_message_id', null=True, db_constraint=True, to_field='id', related_name='files', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='files', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharField(max_length=16)),
                ('filename', fields.CharField(max_length=200)),
                ('content_type', fields.CharField(max_length=100)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('stored_name', fields.CharField(max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'feedback_file', 'app': 'models', 'indexes': [Index(fields=['ticket_id']), Index(fields=['inbox_message_id']), Index(fields=['created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketCounter',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('prefix', fields.CharField(max_length=16)),
                ('year', fields.IntField()),
                ('issued', fields.IntField(default=0)),
            ],
            options={'table': 'ticket_counter', 'app': 'models', 'unique_together': (('prefix', 'year'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='TicketEventKind', enum_type=TicketEventKind, max_length=16)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(null=True, max_length=16)),
                ('text', fields.TextField(default='', unique=False)),
                ('internal', fields.BooleanField(default=False)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='ticket_events', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket_event', 'app': 'models', 'indexes': [Index(fields=['ticket_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Area',
            name='latitude',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Area',
            name='longitude',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Delivery',
            name='poll_ref',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['channel', 'poll_ref']),
        ),
        ops.AddField(
            model_name='OutboundMessage',
            name='poll',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
