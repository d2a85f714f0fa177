from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_report_button')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WeeklyReport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('area', fields.ForeignKeyField('models.Area', source_field='area_id', db_constraint=True, to_field='id', related_name='weekly_reports', on_delete=OnDelete.CASCADE)),
                ('week_start', fields.DateField()),
                ('recipients', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'weekly_report', 'app': 'models', 'unique_together': (('area_id', 'week_start'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
