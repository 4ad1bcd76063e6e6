"""Where an idle WebSocket connection's memory goes: Python allocations per connection.

Starts a gsocketio server in this process (the ``gsocketio`` package of ``--tree``, default
this checkout), connects ``--clients`` idle Socket.IO clients over WebSocket with
``bench/load/lean.js`` (each joins one room, as in ``bench/run.py --scenario idle``), then
prints, per connection: RSS growth (inflated by tracemalloc's own bookkeeping: the figure to
quote is ``bench/run.py``'s), Python allocations traced by ``tracemalloc`` grouped by file or
line, and the C stack a parked reader greenlet saves (greenlet's ``_stack_saved``). Untraced:
greenlets' own C structures and their Python data-stack chunks (one 16 KiB mapping per
greenlet, of which the first page is touched), libev's loop.

    .venv/bin/python bench/idle_memory.py [--clients 1000] [--by filename|lineno] [--top 15]
        [--tree DIR]
    .venv/bin/python bench/idle_memory.py --bare-greenlets 10000

``--bare-greenlets N`` measures instead what one parked gevent greenlet costs by itself (N of
them waiting on one Event, no tracemalloc): the floor of any design with a greenlet per idle
connection.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
LOAD = HERE / "load" / "lean.js"
CONNECT_BUDGET = 120.0  # seconds for every client to connect
SETTLE = 2.0  # seconds at rest before the snapshot


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _short(filename: str) -> str:
    return filename.split("site-packages/")[-1].split(str(HERE.parent) + "/")[-1]


def _saved_stacks() -> list[int]:
    from greenlet import greenlet  # type: ignore[import-untyped]

    return sorted(
        int(g._stack_saved)
        for g in gc.get_objects()
        if issubclass(type(g), greenlet) and g.gr_frame is not None
    )


def _bare_greenlets(count: int) -> int:
    import gevent
    import gevent.event

    release = gevent.event.Event()
    gevent.sleep(0)
    gc.collect()
    before = _rss_kib()
    parked = [gevent.spawn(release.wait) for _ in range(count)]
    gevent.sleep(0.1)
    after = _rss_kib()
    stacks = sorted(int(g._stack_saved) for g in parked)
    print(
        f"{count} parked gevent greenlets: RSS {(after - before) / count:.1f} KiB each, "
        f"saved C stack median {stacks[count // 2]} B"
    )
    release.set()
    gevent.joinall(parked, timeout=10)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--by", choices=("filename", "lineno"), default="filename")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--tree", type=Path, default=HERE.parent, help="a gsocketio checkout")
    parser.add_argument("--bare-greenlets", type=int, metavar="N")
    args = parser.parse_args()
    if args.bare_greenlets:
        return _bare_greenlets(args.bare_greenlets)
    sys.path.insert(0, str(args.tree.resolve()))

    import gevent

    import gsocketio
    from gsocketio.serve import SocketIOServer

    sio = gsocketio.Server()

    @sio.event
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        sio.enter_room(sid, "all")

    server = SocketIOServer(("127.0.0.1", 0), sio.wsgi_app(), log=None)
    server.start()
    count: int = args.clients
    url = f"http://127.0.0.1:{server.server_port}"
    gc.collect()
    tracemalloc.start(1)
    before, rss_before = tracemalloc.take_snapshot(), _rss_kib()
    load = subprocess.Popen(
        ["node", str(LOAD), "idle", url, str(count), "12"],
        stdout=subprocess.DEVNULL,
        cwd=HERE.parent,
    )
    try:
        deadline = time.monotonic() + CONNECT_BUDGET
        while len(sio._clients) < count and time.monotonic() < deadline:
            gevent.sleep(0.2)
        gevent.sleep(SETTLE)
        gc.collect()
        after, rss_after = tracemalloc.take_snapshot(), _rss_kib()
        connected = len(sio._clients)
        if connected == 0:
            print("no client connected", file=sys.stderr)
            return 1
        stats = after.compare_to(before, args.by)
        traced = sum(stat.size_diff for stat in stats)
        stacks = _saved_stacks()
        print(f"{connected} idle connections ({gsocketio.__file__})")
        print(f"RSS growth {(rss_after - rss_before) / connected:.1f} KiB/conn (under tracemalloc)")
        print(f"traced     {traced / connected / 1024:.2f} KiB/conn")
        if stacks:
            print(
                f"parked greenlets {len(stacks)}, saved C stack median {stacks[len(stacks) // 2]} B"
            )
        for stat in stats[: args.top]:
            frame = stat.traceback[0]
            where = _short(frame.filename) + (f":{frame.lineno}" if args.by == "lineno" else "")
            print(
                f"{stat.size_diff / connected:8.0f} B/conn {stat.count_diff / connected:6.1f} blocks  {where}"
            )
    finally:
        load.kill()
        load.wait(timeout=10)
        server.stop(timeout=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
