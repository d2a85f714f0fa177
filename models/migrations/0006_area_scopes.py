from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint
from models.migration_ops import backfill_area_scopes

class Migration(migrations.Migration):
    dependencies = [('models', '0005_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BroadcastArea',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('broadcast', fields.ForeignKeyField('models.Broadcast', source_field='broadcast_id', db_constraint=True, to_field='id', related_name='reach', on_delete=OnDelete.CASCADE)),
                ('area_key', fields.CharField(max_length=500)),
            ],
            options={'table': 'broadcast_area', 'app': 'models', 'unique_together': (('broadcast_id', 'area_key'),), 'indexes': [Index(fields=['area_key'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Attachment',
            name='area_keys',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AlterField(
            model_name='MemberGroup',
            name='name',
            field=fields.CharField(max_length=100),
        ),
        ops.AddField(
            model_name='MemberGroup',
            name='area_key',
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.AddConstraint(
            model_name='MemberGroup',
            constraint=UniqueConstraint(fields=('area_key', 'name'), name=None),
        ),
        ops.AddIndex(
            model_name='OutboundMessage',
            index=Index(fields=['broadcast_id']),
        ),
        ops.AddField(
            model_name='JoinRequest',
            name='claimed_member',
            field=fields.ForeignKeyField('models.Member', source_field='claimed_member_id', null=True, db_constraint=True, to_field='id', related_name='claims', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Seat',
            index=Index(fields=['member_id', 'ended_at']),
        ),
        ops.RunPython(backfill_area_scopes),
    ]
