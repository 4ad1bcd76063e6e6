"""A gsocketio server process with the Redis adapter, driven over HTTP by the cluster tests.

``python -m tests.cluster.app --key K --name N`` serves on an ephemeral port and prints
``PORT <n>``. ``POST /ctl`` with ``{"op": ..., ...}`` runs one server-side operation and
answers JSON. Clients may emit ``join`` (room), ``leave`` (room) and ``setdata`` (dict).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402

import gsocketio  # noqa: E402
from gsocketio.adapters.redis import RedisAdapter  # noqa: E402
from gsocketio.adapters.redis_sharded import RedisShardedAdapter  # noqa: E402
from gsocketio.exceptions import (  # noqa: E402
    CallTimeoutError,
    ClusterError,
    ClusterTimeoutError,
    UnknownSocketError,
)
from gsocketio.serve import SocketIOServer  # noqa: E402


def build(
    key: str, name: str, url: str, sharded: bool = False, admin: bool = False
) -> tuple[gsocketio.Server, RedisAdapter | RedisShardedAdapter, Any]:
    adapter: RedisAdapter | RedisShardedAdapter
    if sharded:
        adapter = RedisShardedAdapter(url, channel_prefix=key, requests_timeout=3)
    else:
        adapter = RedisAdapter(url, key=key, requests_timeout=3)
    sio = gsocketio.Server(adapter=adapter, cors_allowed_origins="*", namespaces="*")
    server_events: list[Any] = []
    acked: list[Any] = []  # what emit(to=sid, callback=) callbacks received
    if admin:  # the Admin UI's namespace, reporting as this node (tests/cluster/test_admin.py)
        sio.instrument(auth=False, server_id=name, server_stats_interval=0.3)

    @sio.on("join", namespace="*")
    def join(nsp: str, sid: str, room: str) -> str:
        sio.enter_room(sid, room, namespace=nsp)
        return "ok"

    @sio.on("leave", namespace="*")
    def leave(nsp: str, sid: str, room: str) -> str:
        sio.leave_room(sid, room, namespace=nsp)
        return "ok"

    @sio.on("setdata", namespace="*")
    def setdata(nsp: str, sid: str, data: dict[str, Any]) -> str:
        sio.get_data(sid, nsp).update(data)
        return "ok"

    @sio.on("whoami", namespace="*")
    def whoami(nsp: str, sid: str) -> str:
        return name

    @sio.on_server_side("hello")  # type: ignore[untyped-decorator]
    def hello(*args: Any) -> Any:
        server_events.append(list(args))
        return {"node": name, "args": list(args)}

    def op(body: dict[str, Any]) -> Any:
        kind = body["op"]
        nsp = body.get("nsp", "/")
        target = sio.of(nsp).to(*body.get("to", [])).except_(*body.get("except", []))
        if body.get("volatile"):
            target = target.volatile
        if body.get("local"):
            target = target.local
        if kind == "emit":
            target.emit(body["event"], *body.get("args", []))
            return "ok"
        if kind == "emit_bin":
            target.emit("bin", b"\x0a\x0b")
            return "ok"
        if kind == "legacy_emit":  # the python-socketio style keyword API
            sio.emit(
                body["event"],
                *body.get("args", []),
                to=body.get("to") or None,
                skip_sid=body.get("skip_sid"),
                namespace=nsp,
            )
            return "ok"
        if kind == "call":
            try:
                return {
                    "replies": target.timeout(body.get("timeout", 3)).call(
                        body["event"], *body.get("args", [])
                    )
                }
            except ClusterTimeoutError as exc:
                return {"error": str(exc), "replies": exc.replies}
        if kind == "fetch":
            found = target.timeout(body.get("timeout", 3)).fetch_sockets()
            return [
                {"id": s.id, "rooms": sorted(s.rooms), "data": s.data, "handshake": s.handshake}
                for s in found
            ]
        if kind == "remote":  # act on fetched sockets one by one (RemoteSocket)
            for s in target.fetch_sockets():
                getattr(s, body["method"])(*body.get("args", []))
            return "ok"
        if kind == "sockets_join":
            target.sockets_join(*body["rooms"])
            return "ok"
        if kind == "sockets_leave":
            target.sockets_leave(*body["rooms"])
            return "ok"
        if kind == "disconnect_sockets":
            target.disconnect_sockets(body.get("close", False))
            return "ok"
        if kind == "server_side_emit":
            sio.server_side_emit(body["event"], *body.get("args", []), namespace=nsp)
            return "ok"
        if kind == "server_side_call":
            try:
                return {
                    "replies": sio.server_side_call(
                        body["event"],
                        *body.get("args", []),
                        namespace=nsp,
                        timeout=body.get("timeout", 3),
                    )
                }
            except ClusterTimeoutError as exc:
                return {"error": str(exc), "replies": exc.replies}
        if kind == "server_events":
            return server_events
        if kind == "whoami":
            return name
        if kind.startswith("sid_"):  # the per-sid keyword API, on a sid of any node
            return sid_op(kind, body.get("sid", ""), nsp, body)
        if kind == "all_rooms":
            return sorted(sio.all_rooms(nsp))
        if kind == "local_sockets":
            return sorted(sio.sockets(nsp))
        if kind == "health":
            h = adapter.health()
            return {"uid": adapter.uid, **{f: getattr(h, f) for f in h.__dataclass_fields__}}
        if kind == "burst":  # a steady load: n sequence-numbered emits, one every interval

            def burst() -> None:
                for i in range(body["n"]):
                    target.emit("seq", i)
                    gevent.sleep(body.get("interval", 0.005))
                target.emit("burst-end")

            gevent.spawn(burst)
            return "ok"
        raise ValueError(kind)

    def sid_op(kind: str, sid: str, nsp: str, body: dict[str, Any]) -> Any:
        try:
            if kind == "sid_call":
                args = body.get("args", [])
                return {"reply": sio.call(body["event"], *args, to=sid, namespace=nsp,
                                          timeout=body.get("timeout", 5))}  # fmt: skip
            if kind == "sid_emit":
                sio.emit(body["event"], *body.get("args", []), to=sid, namespace=nsp)
            elif kind == "sid_emit_cb":
                sio.emit(body["event"], *body.get("args", []), to=sid, namespace=nsp,
                         callback=lambda *a: acked.append(list(a)))  # fmt: skip
            elif kind == "sid_acked":
                return acked
            elif kind == "sid_enter":
                sio.enter_room(sid, body["room"], namespace=nsp)
            elif kind == "sid_leave":
                sio.leave_room(sid, body["room"], namespace=nsp)
            elif kind == "sid_rooms":
                return sorted(sio.rooms(sid, namespace=nsp))
            elif kind == "sid_disconnect":
                sio.disconnect(sid, namespace=nsp)
            else:
                raise ValueError(kind)
        except (CallTimeoutError, UnknownSocketError) as exc:
            return {"error": type(exc).__name__}
        return "ok"

    def ctl(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != "/ctl":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length))
        try:
            result: Any = {"ok": op(body)}
        except ClusterError as exc:
            result = {"cluster_error": f"{type(exc).__name__}: {exc}"}
        out = json.dumps(result, default=str).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [out]

    return sio, adapter, ctl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--name", default="py")
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--sharded", action="store_true")
    parser.add_argument("--admin", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"[{args.name}] %(levelname)s %(name)s: %(message)s",
    )
    sio, adapter, ctl = build(args.key, args.name, args.url, args.sharded, args.admin)
    server = SocketIOServer(("127.0.0.1", 0), sio.wsgi_app(ctl), log=None)
    server.start()
    # Ready means subscribed: a request another node publishes right after our PORT line
    # must reach us. server_count answers once the link is up and our subscription confirmed.
    for _ in range(200):  # 10 s at most; a node that cannot reach Redis still starts
        try:
            adapter.server_count("/")
            break
        except ClusterError:
            gevent.sleep(0.05)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
