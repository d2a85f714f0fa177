from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from models.migration_ops import backfill_delivery_seats

class Migration(migrations.Migration):
    dependencies = [('models', '0006_area_scopes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Delivery',
            name='area',
            field=fields.ForeignKeyField('models.Area', source_field='area_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Delivery',
            name='seat',
            field=fields.ForeignKeyField('models.Seat', source_field='seat_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['area_id', 'broadcast_id']),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['seat_id']),
        ),
        ops.RunPython(backfill_delivery_seats),
    ]
