from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_broadcast_engine')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ChannelAddress',
            index=Index(fields=['member_id']),
        ),
        ops.RemoveIndex(
            model_name='OutboundMessage',
            name=None,
            fields=['state', 'next_attempt_at'],
        ),
        ops.AddIndex(
            model_name='OutboundMessage',
            index=Index(fields=['state', 'next_attempt_at', 'id']),
        ),
        ops.AddIndex(
            model_name='OutboundMessage',
            index=Index(fields=['delivery_id']),
        ),
    ]
