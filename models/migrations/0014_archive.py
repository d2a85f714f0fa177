from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_review_notes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PublishedText',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('broadcast', fields.ForeignKeyField('models.Broadcast', source_field='broadcast_id', db_constraint=True, to_field='id', related_name='published_texts', on_delete=OnDelete.CASCADE)),
                ('text_digest', fields.CharField(max_length=64)),
                ('full_digest', fields.CharField(max_length=64)),
                ('replaced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'published_text', 'app': 'models', 'indexes': [Index(fields=['text_digest']), Index(fields=['full_digest'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Broadcast',
            name='published',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Broadcast',
            name='published_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Broadcast',
            name='verification_code',
            field=fields.CharField(null=True, unique=True, max_length=6),
        ),
        ops.AddIndex(
            model_name='Broadcast',
            index=Index(fields=['published_at']),
        ),
    ]
