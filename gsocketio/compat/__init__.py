"""gevent-socketio (0.3, "the seed") compatibility, on top of the modern layers."""
