"""The public widget routes (listed in PUBLIC_ROUTE_NAMES): no cookies, Origin-checked."""

from django.urls import path

from apps.widgets.public import widget_hosted_view, widget_script_view, widget_session_view

urlpatterns = [
    path("widget.js", widget_script_view, name="widget-script"),
    path("w/<str:key>/", widget_hosted_view, name="widget-hosted"),
    path("api/widget/v1/session/", widget_session_view, name="widget-session"),
]
