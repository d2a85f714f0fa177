from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_telegram_groups')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboundMessage',
            name='template',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='OutboundMessage',
            name='template_params',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='OutboundMessage',
            name='used_template',
            field=fields.BooleanField(null=True),
        ),
    ]
