from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "apps.observability"
    label = "observability"
    verbose_name = "Runs browser, feedback and monitoring"

    def ready(self) -> None:
        from apps.config.metrics import SCRAPE_COLLECTORS
        from apps.observability import otel
        from apps.observability.prometheus import run_observe, scrape_gauges
        from apps.runs.observers import run_ended_subscribe

        run_ended_subscribe(run_observe)
        if scrape_gauges not in SCRAPE_COLLECTORS:
            SCRAPE_COLLECTORS.append(scrape_gauges)
        otel.configure_from_env()  # off unless OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set
