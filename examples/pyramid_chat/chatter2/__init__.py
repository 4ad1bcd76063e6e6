"""The seed's Pyramid chat (examples/chatter2), ported: a Pyramid app whose ``socket.io/*``
route calls ``socketio_manage``."""

from pyramid.config import Configurator

from chatter2.views import index, socketio_service


def simple_route(config, name, url, fn, renderer=None):
    """Add a route and its view in one call."""
    config.add_route(name, url)
    config.add_view(fn, route_name=name, renderer=renderer)


def main(global_config=None, **settings):
    config = Configurator(settings=settings)
    simple_route(config, "index", "/", index)
    # The socketio view configuration
    simple_route(config, "socket_io", "socket.io/*remaining", socketio_service)
    return config.make_wsgi_app()
