"""BillingEngine settings, read from the environment (and from a local `.env` file when present).

Real environment variables win over `.env`. Every variable read here (tests/test_settings.py keeps
this list complete):

Core
    DEBUG (false)                       Development mode; with it off a real SECRET_KEY is required.
    SECRET_KEY (none)                   At least 50 random characters; required when DEBUG is off.
    ALLOWED_HOSTS (127.0.0.1,localhost,[::1] with DEBUG, else none)
                                        Comma-separated host names the app answers for.
    CSRF_TRUSTED_ORIGINS (none)         Origins allowed to post forms, e.g. https://billing.example.com.
    DATABASE_URL (sqlite:///<project>/db.sqlite3)
                                        e.g. postgres://user:pass@host:5432/billingengine.
    DB_CONN_MAX_AGE (60)                Seconds a database connection is kept open.
    DB_PREPARED_STATEMENTS (true)       PostgreSQL: server-side binding and prepared statements.
    ADMIN_URL (admin/)                  Path of the admin site.
    LOG_LEVEL (INFO)                    Level of the console log (root and propagated loggers).

Behind a TLS-terminating proxy
    SECURE_SSL (false)                  HTTPS redirect, secure cookies and HSTS.
    SECURE_HSTS_SECONDS (31536000 with SECURE_SSL, else 0)
                                        HSTS max-age.
    USE_X_FORWARDED_PROTO (false)       Trust X-Forwarded-Proto from the proxy.
    USE_X_FORWARDED_FOR (false)         Let the admin login lockout take the client IP from X-Forwarded-For.

API
    API_MAX_BODY_BYTES (16777216)       Largest accepted request body (a 10,000-record batch is 2-3 MB).
    API_KEY_LAST_USED_RESOLUTION_SECONDS (60)
                                        An API key's last_used_at is written at most this often.
    API_THROTTLE_RATE (6000/min)        Requests per API key (per user for sessions); empty turns it off.
    REDIS_URL (none)                    Redis cache shared by every process (throttle counters);
                                        local memory per process without it.
    IDEMPOTENCY_KEY_TTL_HOURS (24)      How long a POST's response is kept for Idempotency-Key replays.
    IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS (60)
                                        After this, an unfinished claim may be taken over by a retry.

Admin login lockout (django-axes)
    AXES_FAILURE_LIMIT (5)              Failed logins per username and IP before a lockout.
    AXES_COOLOFF_HOURS (1)              Length of a lockout, in hours.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file; `make run`/`make test` write a `.env` for local use.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

_INSECURE_KEY_PREFIX = "django-insecure-"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith(_INSECURE_KEY_PREFIX)):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters when DEBUG is off "
        "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
if not SECRET_KEY:
    SECRET_KEY = _INSECURE_KEY_PREFIX + "local-development-only-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "billingengine.apps.BillingEngineAdminConfig",  # django.contrib.admin with our site (billingengine/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",  # its abstract key model and hashing; its own concrete table stays unused
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_countries",
    "simple_history",
    "billingengine",
    "customers",
    "groups",
    "records",
    "pricing",
    "billing",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "billingengine.api.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: locks out admin logins after repeated failures.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "billingengine.urls"
WSGI_APPLICATION = "billingengine.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: it compiles the heavier OLTP queries (e.g. member counts) on every request and never pays off.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        # Parameters bound server-side, and a statement run 5 times on a connection is prepared: PostgreSQL
        # then stops planning the same ORM queries (API key, permissions, row by id) on every request.
        # Set DB_PREPARED_STATEMENTS=false behind a transaction-pooling PgBouncer older than 1.21.
        DATABASES["default"]["OPTIONS"].update({"server_side_binding": True, "prepare_threshold": 5})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server and a command write at the same time.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # BEGIN IMMEDIATE: a read-then-write transaction otherwise fails at once with "database is
            # locked" (no busy wait) when another process writes; found by fuzzing two gunicorn workers.
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
# One date format everywhere in the admin, with the time zone (billingengine/formats/en/formats.py).
FORMAT_MODULE_PATH = ["billingengine.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# The admin lives at a configurable path, so it is not where scanners look first.
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"
LOGIN_URL = "admin:login"

# Security headers; the HTTPS-only ones are switched on by SECURE_SSL=true behind TLS (README "Production").
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
_SECURE_SSL = env.bool("SECURE_SSL", default=False)
SECURE_SSL_REDIRECT = _SECURE_SSL
SESSION_COOKIE_SECURE = _SECURE_SSL
CSRF_COOKIE_SECURE = _SECURE_SSL
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _SECURE_SSL
SECURE_HSTS_PRELOAD = _SECURE_SSL
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "billingengine.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["billingengine.api.permissions.ModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "billingengine.api.negotiation.ContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "billingengine.api.pagination.KeysetPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "billingengine.api.exceptions.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # ISO 8601 via isoformat(): years below 1000 are zero-padded (strftime's %Y is not, on glibc).
    "DATETIME_FORMAT": "iso-8601",
    "STRICT_JSON": True,
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_THROTTLE_CLASSES": ["billingengine.api.throttling.ApiKeyRateThrottle"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BillingEngine API",
    "DESCRIPTION": (
        "Customers, customer groups and memberships of BillingEngine, a usage-based billing engine. "
        "Authenticate with `Authorization: Bearer <api key>` (keys are created with "
        "`manage.py create_api_key`). Errors are RFC 9457 problem details (`application/problem+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SCHEMA_COERCE_PATH_PK_SUFFIX": True,
    "ENUM_NAME_OVERRIDES": {"CountryEnum": "django_countries.countries"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billingengine.api.schema.add_problem_responses",
    ],
}

# Largest accepted API request body (a batch of 10,000 data records is about 2-3 MB).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=16 * 1024 * 1024)

# API keys: long random secrets, hashed with a fast digest and looked up by an indexed prefix.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=60)

_LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_secrets": {"()": "billingengine.logging.RedactSecretsFilter"}},
    # The level is on the handler too: records propagated from child loggers (django.request) skip the
    # root logger's own level.
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
            "level": _LOG_LEVEL,
        }
    },
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Shared cache: Redis when REDIS_URL is set (throttle counters are then shared by every server
# process), local memory otherwise.
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "billingengine"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Requests per API key (per user for sessions), e.g. "6000/min"; empty turns throttling off. 429 + Retry-After.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="6000/min")

# Idempotency-Key on POST: responses are kept this long for replays (`manage.py clean_idempotency_keys`
# deletes older ones); a claim whose request has not finished after the timeout may be taken over.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = env.int("IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS", default=60)

# Admin login brute-force protection (django-axes): lock a username+IP pair out after
# AXES_FAILURE_LIMIT failed logins for AXES_COOLOFF_HOURS.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner in every command's output; lockouts are still logged
if env.bool("USE_X_FORWARDED_FOR", default=False):
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# Session cookies for staff: CSRF enforced on the API's session auth (DRF) and the admin.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "billingengine.api.exceptions.csrf_failure"
