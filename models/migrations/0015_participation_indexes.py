from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0014_archive')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Broadcast',
            index=Index(fields=['started_at']),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['member_id', 'broadcast_id']),
        ),
        ops.AddIndex(
            model_name='PollVote',
            index=Index(fields=['member_id']),
        ),
    ]
