# The (bill, position) unique constraint's index serves lookups by bill: the foreign key's own index was one
# more index to update per bill line.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_billline_rate"),
    ]

    operations = [
        migrations.AlterField(
            model_name="billline",
            name="bill",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="billing.bill"
            ),
        ),
    ]
