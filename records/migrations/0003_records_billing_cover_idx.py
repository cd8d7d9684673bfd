"""Replace records (customer_id, time_from) with the same index covering code and quantity (PostgreSQL).

The billing summary reads the records of the hours a rate boundary cuts by (customer, time range) and needs
only code and quantity: with them in the index (INCLUDE) those reads are index-only scans. The covering
index has the same key, so it serves every query the old one did and the old one goes (one index per record
insert, not two). A plain AddIndex, not AddIndexConcurrently: the latter fails on SQLite and needs a
non-atomic migration; a plain one keeps both databases on one migration path. It locks record inserts
while the index builds: on a large production table, build `records_billing_cover_idx` CONCURRENTLY by hand
first (same definition) and the AddIndex can then be faked.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("records", "0002_datarecord_billing_epoch")]

    operations = [
        migrations.AddIndex(
            model_name="datarecord",
            index=models.Index(
                fields=["customer_id", "time_from"], include=("code", "quantity"), name="records_billing_cover_idx"
            ),
        ),
        migrations.RemoveIndex(model_name="datarecord", name="records_customer_time_idx"),
    ]
