from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "apps.serving"
    label = "serving"
    verbose_name = "Model endpoints, the serving gateway and the egress guard"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from apps.serving.receivers import give_new_organization_the_builtin_model

        # Tenancy stays unaware of serving: the builtin model arrives through the signal.
        post_save.connect(
            give_new_organization_the_builtin_model,
            sender="tenancy.Organization",
            dispatch_uid="serving.builtin_model",
        )
