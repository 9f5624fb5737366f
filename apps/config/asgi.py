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

from apps.config.routing import websocket_urlpatterns  # noqa: E402
from apps.config.ws_origin import same_site_origin_only  # noqa: E402
from apps.tenancy.ws_auth import ApiKeyWebSocketMiddleware  # noqa: E402
from apps.widgets.routing import widget_sockets_or  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Widget sockets (apps/widgets) check Origin against each widget's allowed origins.
        "websocket": widget_sockets_or(
            same_site_origin_only(AuthMiddlewareStack(ApiKeyWebSocketMiddleware(URLRouter(websocket_urlpatterns))))
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
gc.set_threshold(20_000, 20, 20)
