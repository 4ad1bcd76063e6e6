"""A gsocketio process with the Redis Streams adapter and recovery on, for the SIGKILL and
drain tests: ``python -m tests.cluster.streams_app --key K`` prints ``PORT <n>`` once its
stream reader is ready; every new socket joins ``feed`` and gets ``data`` and a ``get_session`` dict (``state``
answers both); SIGTERM drains, then exits.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import gsocketio  # noqa: E402
from gsocketio.adapters.redis_streams import RedisStreamsAdapter  # noqa: E402
from gsocketio.drain import drain_on_sigterm  # noqa: E402
from gsocketio.serve import SocketIOServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stream-count", type=int, default=1)
    args = parser.parse_args()
    adapter = RedisStreamsAdapter(
        args.url, stream=f"{args.key}:stream", channel_prefix=args.key,
        session_key_prefix=f"{args.key}:session:", block_time=1.0,
        stream_count=args.stream_count,
    )  # fmt: skip
    sio = gsocketio.Server(
        adapter=adapter,
        cors_allowed_origins="*",
        connection_state_recovery={"max_disconnection_duration": 30},
    )

    @sio.on("connect")
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        if not sio.is_recovered(sid):
            sio.enter_room(sid, "feed")
            sio.get_data(sid)["joined"] = True
            sio.save_session(sid, {"node": os.getpid()})

    @sio.on("state")
    def state(sid: str) -> dict[str, Any]:
        """What a recovered socket came back with (the client asks after a recovery)."""
        return {"data": sio.get_data(sid), "session": sio.get_session(sid)}

    server = SocketIOServer(("127.0.0.1", args.port), sio.wsgi_app(), log=None)
    server.start()

    def stop() -> None:
        server.stop(timeout=1)
        os._exit(0)

    drain_on_sigterm(sio, stop, batch_size=10, interval=0.1)
    if not adapter.ready.wait(10):
        raise SystemExit("stream reader not ready")
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
