from django.apps import AppConfig


class GuardrailsConfig(AppConfig):
    name = "apps.guardrails"
    default_auto_field = "django.db.models.BigAutoField"
