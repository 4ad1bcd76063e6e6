"""``python manage.py runserver_socketio [host:port]``: the seed example's command, ported.

Serves the project's WSGI application with gsocketio's SocketIOServer (Socket.IO in seed mode,
everything else to Django). Port 0 picks a free port; the address served is printed.
"""

from gevent import monkey

monkey.patch_all()

from django.core.management.base import BaseCommand  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from gsocketio.server import SocketIOServer  # noqa: E402


class Command(BaseCommand):
    help = "Serve the project with Socket.IO (gsocketio)"

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:9000")

    def handle(self, *args, **options):
        host, _, port = options["addrport"].rpartition(":")
        server = SocketIOServer((host or "127.0.0.1", int(port)), get_wsgi_application())
        server.init_socket()
        self.stdout.write(f"serving on http://{server.server_host}:{server.server_port}")
        self.stdout.flush()
        server.serve_forever()
