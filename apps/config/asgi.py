"""ASGI entry: Django for HTTP, Channels for WebSockets (session or API-key auth)."""

from __future__ import annotations

import gc
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

# The event loop streams tokens while database threads start and record runs. With the default
# 5 ms switch interval a busy database thread keeps the GIL for 5 ms at a time, and with several
# of them the loop's tokens queue up behind it; 1 ms keeps the stream steady under bursts.
sys.setswitchinterval(0.001)

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from apps.config.ws_origin import same_site_origin_only  # noqa: E402

# The apps' pieces by dotted path (settings.WEBSOCKET_*), as Django names ROOT_URLCONF: this
# module sits in apps.config, the lowest layer, which never imports the apps above it.
websocket_urlpatterns = import_string(f"{settings.WEBSOCKET_URLCONF}.websocket_urlpatterns")
api_key_auth = import_string(settings.WEBSOCKET_AUTH_MIDDLEWARE)
public_sockets_or = import_string(settings.WEBSOCKET_PUBLIC_ROUTER)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Widget sockets (apps/widgets) check Origin against each widget's allowed origins.
        "websocket": public_sockets_or(
            same_site_origin_only(AuthMiddlewareStack(api_key_auth(URLRouter(websocket_urlpatterns))))
        ),
    }
)

# Garbage collection: streaming allocates a few objects per token, so the default thresholds ran
# a young collection every ~35 tokens and full collections that walked every object imported at
# start (up to ~400 ms with the loop stopped: the longest gaps between tokens under load). The
# objects that exist now live as long as the process: freeze them out of every collection, and
# collect the young generation every 20,000 allocations instead of 700 (measured: GC time during
# 150 concurrent streams 1.9 s -> 0.1 s, longest pause 393 ms -> 28 ms; docs/BENCHMARKS.md).
gc.freeze()
gc.set_threshold(*settings.GC_THRESHOLDS)  # 20,000 / 20 / 20 unless TRELLIS_GC_THRESHOLDS says
