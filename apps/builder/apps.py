from django.apps import AppConfig


class BuilderConfig(AppConfig):
    name = "apps.builder"
    label = "builder"
    verbose_name = "Flows, versions, publish and rollback"
