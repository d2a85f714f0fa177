from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from models.migration_ops import DropColumn, claims_as_dialogs

class Migration(migrations.Migration):
    dependencies = [('models', '0007_delivery_seat')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Conversation',
            name='expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Conversation',
            name='flow',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='Conversation',
            name='step',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.RunPython(claims_as_dialogs),
        DropColumn(model_name='Conversation', name='state'),
    ]
