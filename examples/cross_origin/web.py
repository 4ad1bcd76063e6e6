"""The page of the cross-origin example, served from another port than the sockets."""

import os
from wsgiref.simple_server import make_server

HERE = os.path.dirname(os.path.abspath(__file__))


def app(environ, start_response):
    with open(os.path.join(HERE, "static", "index.html"), "rb") as f:
        body = f.read()
    start_response("200 OK", [("Content-Type", "text/html")])
    return [body]


if __name__ == "__main__":
    make_server("localhost", 8080, app).serve_forever()
