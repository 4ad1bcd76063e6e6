"""Per-module coverage floors for gsocketio/, enforced by `make test` after pytest under coverage.

Reads the data `coverage run -m pytest tests` left (settings in pyproject.toml) and fails when
a module of the package, or the package as a whole, is below its floor. Floors are a ratchet:
they were set a few points below the measured coverage and only ever go up (CONTRIBUTING.md).
A module not listed, such as a new one, must reach DEFAULT_FLOOR. ``--measured`` prints every
module's coverage beside its floor, to raise floors after adding tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOOR = 80.0  # every module not listed below: new code comes with its tests
TOTAL_FLOOR = 85.0  # the whole package (statements run / statements): 87.2% measured

# Measured 2026-12-01 with the whole suite after the cluster and HTTP merges, minus 3 points
# (or 2 statements where that is more, for modules of 20+ statements) so that timing-dependent
# paths cannot fail a run; each comment is the coverage measured then. In-process only: servers
# run as subprocesses are not counted, which is why the Redis adapter, driven mostly by the node
# processes of tests/cluster, has low floors until it gets in-process tests.
FLOORS: dict[str, float] = {
    "gsocketio/__init__.py": 85,  # 88.9%
    "gsocketio/__main__.py": 0,  # 0.0%
    "gsocketio/_logging.py": 96,  # 100.0%
    "gsocketio/acks.py": 94,  # 98.2%
    "gsocketio/admin.py": 94,  # 96.9% (its own tests, 2026-12-01; the cluster ones run in subprocesses)
    "gsocketio/admin_ui.py": 92,  # 95.5%
    "gsocketio/adapters/base.py": 92,  # 95.8%
    "gsocketio/adapters/cluster_wire.py": 90,  # 93.6%
    "gsocketio/adapters/memory.py": 92,  # 95.9%
    "gsocketio/adapters/redis.py": 82,  # 85% (cluster branch, a subset of the suite)
    "gsocketio/adapters/redis_answers.py": 68,  # 71% (cluster branch, subset)
    "gsocketio/adapters/redis_base.py": 88,  # 91% (cluster branch, subset)
    "gsocketio/adapters/redis_link.py": 82,  # 85% (cluster branch, subset)
    "gsocketio/adapters/redis_requests.py": 89,  # 92.4%
    "gsocketio/adapters/redis_sharded.py": 74,  # 77% (cluster branch, subset)
    "gsocketio/adapters/redis_wire.py": 84,  # 87.7%
    "gsocketio/blocking.py": 76,  # 79% (its watchdog runs in a raw thread coverage does not trace)
    "gsocketio/cluster_api.py": 85,  # 88% (cluster branch, subset)
    "gsocketio/cluster_host.py": 78,  # 81.0%
    "gsocketio/compat/managed.py": 87,  # 89.6% (rewritten as the handler layer since 97.2% was measured)
    "gsocketio/compat/runner.py": 91,  # 94.5%
    "gsocketio/compat/virtsocket.py": 84,  # 87.4%
    "gsocketio/demo/__init__.py": 86,  # 89.0%
    "gsocketio/emitter.py": 85,  # 88.6%
    "gsocketio/engine/__init__.py": 97,  # 100.0%
    "gsocketio/engine/connection.py": 85,  # 89.0%
    "gsocketio/engine/http.py": 86,  # 89.4%
    "gsocketio/engine/polling.py": 87,  # 90.3%
    "gsocketio/engine/reaper.py": 92,  # 95.9%
    "gsocketio/engine/server.py": 90,  # 93.9%
    "gsocketio/exceptions.py": 93,  # 97.9%
    # 75.7% in the full CI run, 89% in test_forward_pool alone: whether the in-process node
    # forwards an upgrade (_pipe) depends on where the proxy lands each client
    "gsocketio/forwarding.py": 70,
    "gsocketio/greenlets.py": 92,  # 95.5%
    "gsocketio/http/__init__.py": 97,  # 100.0%
    "gsocketio/http/body.py": 87,  # 90.8%
    "gsocketio/http/chunked.py": 94,  # 97.6%
    "gsocketio/http/connection.py": 88,  # 91.6%
    "gsocketio/http/environ.py": 93,  # 96.7%
    "gsocketio/http/limits.py": 97,  # 100.0%
    "gsocketio/http/parser.py": 94,  # 97.5%
    "gsocketio/http/response.py": 83,  # 86.0%
    "gsocketio/http/server.py": 83,  # 86.7%
    "gsocketio/legacy/__init__.py": 97,  # 100.0%
    "gsocketio/legacy/connection.py": 85,  # 88.7%
    "gsocketio/legacy/endpoint.py": 93,  # 96.8%
    "gsocketio/legacy/http.py": 92,  # 100.0%
    "gsocketio/legacy/policy.py": 90,  # 93.4%
    "gsocketio/legacy/transports.py": 85,  # 89.0%
    "gsocketio/mixins.py": 92,  # 96.1%
    "gsocketio/namespace.py": 82,  # 85.0%
    "gsocketio/operator.py": 89,  # 92.7%
    "gsocketio/protocol/__init__.py": 97,  # 100.0%
    "gsocketio/protocol/_json.py": 97,  # 100.0%
    "gsocketio/protocol/_text.py": 94,  # 100.0%
    "gsocketio/protocol/engineio.py": 96,  # 99.6%
    "gsocketio/protocol/engineio_session.py": 96,  # 99.6%
    "gsocketio/protocol/legacy.py": 95,  # 98.1%
    "gsocketio/protocol/legacy_http.py": 93,  # 97.8%
    "gsocketio/protocol/legacy_session.py": 94,  # 97.7%
    "gsocketio/protocol/limits.py": 97,  # 100.0%
    "gsocketio/protocol/reasons.py": 97,  # 100.0%
    "gsocketio/protocol/socketio.py": 97,  # 100.0%
    "gsocketio/registry.py": 88,  # 91.9%
    "gsocketio/sdjango.py": 55,  # 60.5%
    "gsocketio/serve.py": 97,  # 100.0%
    "gsocketio/server.py": 93,  # 96.1%
    "gsocketio/sgunicorn.py": 52,  # 57.9%
    "gsocketio/socket.py": 94,  # 97.2%
    "gsocketio/websocket/__init__.py": 97,  # 100.0%
    "gsocketio/websocket/connection.py": 85,  # 88.5%
    "gsocketio/websocket/framing.py": 91,  # 94.9%
    "gsocketio/wsgi.py": 73,  # 75.1% (node forwarding and engine hooks run in subprocess servers)
    # Modules that run mostly inside subprocess servers (prefork workers, node listeners,
    # the CLI), which coverage does not trace: floors at today's measure until subprocess
    # coverage is on (CONTRIBUTING.md: floors only go up).
    "gsocketio/logformat.py": 63,  # 65.3%
    "gsocketio/nodes.py": 56,  # 61% from tests/cluster/test_forward_pool.py alone
    "gsocketio/prefork.py": 18,  # 20.5%
}


def measure(cov: coverage.Coverage) -> dict[str, tuple[int, int]]:
    """Every module of the package (imported or not): (statements, statements run)."""
    result: dict[str, tuple[int, int]] = {}
    for path in sorted((ROOT / "gsocketio").rglob("*.py")):
        _, statements, _, missing, _ = cov.analysis2(str(path))
        result[path.relative_to(ROOT).as_posix()] = (
            len(statements),
            len(statements) - len(missing),
        )
    return result


def percent(statements: int, run: int) -> float:
    return 100.0 * run / statements if statements else 100.0


def main(argv: list[str]) -> int:
    cov = coverage.Coverage(config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    if not cov.get_data().measured_files():
        print("coverage_floor: no coverage data; run `coverage run -m pytest tests` first")
        return 2
    modules = measure(cov)
    below: list[str] = []
    for name, (statements, run) in modules.items():
        got, floor = percent(statements, run), FLOORS.get(name, DEFAULT_FLOOR)
        if "--measured" in argv:
            print(f"{got:6.1f}%  floor {floor:5.1f}%  {statements:5d} statements  {name}")
        if got < floor:
            listed = "" if name in FLOORS else " (default floor: not in FLOORS)"
            below.append(f"{name}: {got:.1f}% < {floor:.0f}%{listed}")
    total = percent(sum(s for s, _ in modules.values()), sum(r for _, r in modules.values()))
    if total < TOTAL_FLOOR:
        below.append(f"gsocketio/ as a whole: {total:.1f}% < {TOTAL_FLOOR:.0f}%")
    for name in sorted(set(FLOORS) - set(modules)):
        print(f"coverage_floor: note: {name} has a floor but no longer exists; drop its entry")
    if below:
        print("coverage below the floor (add tests; never lower a floor):\n  " + "\n  ".join(below))
        return 1
    print(f"coverage_floor: {len(modules)} modules at or above their floors; total {total:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
