from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_feedback')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboundMessage',
            name='poll_ref',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddIndex(
            model_name='OutboundMessage',
            index=Index(fields=['channel', 'poll_ref']),
        ),
    ]
