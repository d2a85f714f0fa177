from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_group_polls')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Broadcast',
            name='report_button',
            field=fields.BooleanField(default=False),
        ),
    ]
