from django.apps import AppConfig


class WidgetsConfig(AppConfig):
    name = "apps.widgets"
    label = "widgets"
    verbose_name = "Published chat widgets"
