from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_weekly_reports')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ScorecardNote',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('area', fields.ForeignKeyField('models.Area', source_field='area_id', db_constraint=True, to_field='id', related_name='scorecard_notes', on_delete=OnDelete.CASCADE)),
                ('month', fields.DateField()),
                ('text', fields.TextField(unique=False)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='scorecard_notes', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'scorecard_note', 'app': 'models', 'unique_together': (('area', 'month'),), 'indexes': [Index(fields=['month'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
