// Per-emit CPU cost of connection state recovery on Node socket.io 4.x's in-memory adapter
// (SessionAwareAdapter), the peer of bench/recovery_cost.py, which runs it and prints both.
// Fake sockets in room "r" whose delivery is a no-op (the adapter looks sockets up in
// nsp.sockets and calls socket.client.writeToEngine), so the figure is socket.io's and the
// adapter's, not the transport's. Prints one JSON line: {"plain": {"room": [...], "sid":
// [...]}, "recovery": {...}} in CPU µs per emit, one value per round.
//   node bench/recovery_cost_node.js EMITS SOCKETS REPEAT
const { Server } = require("socket.io");

const [emits, sockets, repeat] = process.argv.slice(2, 5).map(Number);

function build(recovery) {
  const io = new Server(recovery ? { connectionStateRecovery: {} } : {});
  const nsp = io.of("/");
  const noop = { writeToEngine() {} };
  for (let i = 0; i < sockets; i++) {
    const id = "s" + String(i).padStart(19, "0");
    nsp.sockets.set(id, { id, client: noop });
    nsp.adapter.addAll(id, new Set([id, "r"]));
  }
  return { io, sid: "s" + "0".repeat(19) };
}

function perEmitUs(io, target) {
  const start = process.cpuUsage();
  for (let i = 0; i < emits; i++) io.to(target).emit("tick", i, { k: "v" });
  const used = process.cpuUsage(start);
  return (used.user + used.system) / emits;
}

const results = { plain: { room: [], sid: [] }, recovery: { room: [], sid: [] } };
for (let round = 0; round < repeat; round++) {
  for (const recovery of [false, true]) {
    const { io, sid } = build(recovery);
    const label = recovery ? "recovery" : "plain";
    results[label].room.push(perEmitUs(io, "r"));
    results[label].sid.push(perEmitUs(io, sid));
    io.of("/").sockets.clear(); // no io.close(): it would close the fake sockets and an engine never made
  }
}
process.stdout.write(JSON.stringify(results) + "\n");
