"""Organizations created before the serving app get the builtin local model too (new ones get
it from the post_save receiver)."""

from django.conf import settings
from django.db import migrations


def add_builtin(apps, schema_editor):
    Organization = apps.get_model("tenancy", "Organization")
    ModelEndpoint = apps.get_model("serving", "ModelEndpoint")
    for organization in Organization.objects.exclude(model_endpoints__alias="local"):
        ModelEndpoint.objects.create(
            organization=organization,
            alias="local",
            name="Local SmolLM2 135M (embedded)",
            kind="chat",
            base_url=settings.LOCAL_MODEL_URL.rstrip("/"),
            model="smollm2-135m",
            is_builtin=True,
        )


class Migration(migrations.Migration):
    dependencies = [("serving", "0001_initial")]

    operations = [migrations.RunPython(add_builtin, migrations.RunPython.noop)]
