"""WSGI entry point: ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker chatproject.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
application = get_wsgi_application()
