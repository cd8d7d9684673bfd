"""WSGI entry point (gunicorn billingengine.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")
application = get_wsgi_application()
