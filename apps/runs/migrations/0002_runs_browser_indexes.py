"""The runs browser: keyset indexes on (started_at, id), a full-text GIN index over input and
output, and the OpenAI-compatible source."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("runs", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="run",
            name="source",
            field=models.CharField(
                choices=[
                    ("playground", "Playground"),
                    ("api", "Api"),
                    ("openai", "OpenAI-compatible"),
                    ("widget", "Widget"),
                ],
                default="playground",
                max_length=16,
            ),
        ),
        migrations.RemoveIndex(model_name="run", name="run_org_recent"),
        migrations.RemoveIndex(model_name="run", name="run_flow_recent"),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["organization", "-started_at", "-id"], name="run_org_recent_id"),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["flow", "-started_at", "-id"], name="run_flow_recent_id"),
        ),
        migrations.RunSQL(
            "CREATE INDEX run_text_search ON runs_run USING gin "
            "((to_tsvector('simple'::regconfig, inputs) || to_tsvector('simple'::regconfig, output_text)))",
            "DROP INDEX IF EXISTS run_text_search",
        ),
    ]
