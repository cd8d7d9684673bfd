import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0001_initial"),
        ("pricing", "0001_initial"),
    ]

    operations = [
        # No bill existed before this migration (issuing came with it), so no line needs a value.
        migrations.AddField(
            model_name="billline",
            name="rate",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="bill_lines", to="pricing.rate"
            ),
            preserve_default=False,
        ),
    ]
