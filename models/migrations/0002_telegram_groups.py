from tortoise import migrations
from tortoise.migrations import operations as ops

from models.migration_ops import AlterFieldDescription
from models.broadcasts import BroadcastStatus, DeliveryStatus
from models.outbox import MessageKind, OutboxState
from models.roster import AreaKind, SeatRole
from models.users import UserRole
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GroupChat',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=20)),
                ('address', fields.CharField(max_length=100)),
                ('title', fields.CharField(default='', max_length=255)),
                ('area', fields.ForeignKeyField('models.Area', source_field='area_id', db_constraint=True, to_field='id', related_name='groups', on_delete=OnDelete.CASCADE)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('removed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'group_chat', 'app': 'models', 'unique_together': (('channel', 'address'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GroupLinkCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=16)),
                ('area', fields.ForeignKeyField('models.Area', source_field='area_id', db_constraint=True, to_field='id', related_name='group_codes', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='group_codes', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'group_link_code', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JoinRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=20)),
                ('address', fields.CharField(max_length=100)),
                ('name', fields.CharField(default='', max_length=200)),
                ('phone', fields.CharField(null=True, max_length=20)),
                ('first_text', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'join_request', 'app': 'models', 'unique_together': (('channel', 'address'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        AlterFieldDescription(
            model_name='Area',
            name='kind',
            field=fields.CharEnumField(description='AreaKind', enum_type=AreaKind, max_length=16),
        ),
        AlterFieldDescription(
            model_name='Broadcast',
            name='status',
            field=fields.CharEnumField(description='BroadcastStatus', enum_type=BroadcastStatus, max_length=16),
        ),
        AlterFieldDescription(
            model_name='Delivery',
            name='status',
            field=fields.CharEnumField(default=DeliveryStatus.PENDING, description='DeliveryStatus', enum_type=DeliveryStatus, max_length=16),
        ),
        AlterFieldDescription(
            model_name='OutboundMessage',
            name='kind',
            field=fields.CharEnumField(description='MessageKind', enum_type=MessageKind, max_length=16),
        ),
        AlterFieldDescription(
            model_name='OutboundMessage',
            name='state',
            field=fields.CharEnumField(default=OutboxState.QUEUED, description='OutboxState', enum_type=OutboxState, max_length=16),
        ),
        ops.AddField(
            model_name='OutboundMessage',
            name='broadcast',
            field=fields.ForeignKeyField('models.Broadcast', source_field='broadcast_id', null=True, db_constraint=True, to_field='id', related_name='group_posts', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='OutboundMessage',
            name='edit_of',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='OutboundMessage',
            name='phone_button',
            field=fields.CharField(null=True, max_length=64),
        ),
        AlterFieldDescription(
            model_name='Seat',
            name='role',
            field=fields.CharEnumField(default=SeatRole.KETUA_RT, description='SeatRole', enum_type=SeatRole, max_length=16),
        ),
        AlterFieldDescription(
            model_name='User',
            name='role',
            field=fields.CharEnumField(description='UserRole', enum_type=UserRole, max_length=16),
        ),
    ]
