// Load generator: N socket.io-client 4.x clients in the servers' "all" room; one of them emits
// "broadcast" M times in a burst and every client counts the "news" events the server fans out.
// A round ends when all N*M deliveries arrived; deliveries/s = N*M / (last delivery - first emit).
// Prints one JSON line with the rate of each round and their median. Every wait is bounded.
const { io } = require("socket.io-client");
const [url, clientsArg, broadcastsArg, sizeArg, roundsArg, transport] = process.argv.slice(2);
const clients = Number(clientsArg || 1000), broadcasts = Number(broadcastsArg || 100);
const size = Number(sizeArg || 32), rounds = Number(roundsArg || 3);
const payload = "x".repeat(size);
const CONNECT_BATCH = 100;        // connections opened at once (keeps the accept backlog small)
const ROUND_TIMEOUT_MS = 60000;   // a round that does not complete in time is reported as such
const sockets = [];
let received = 0, errors = 0, target = 0, lastAt = 0n, onRoundDone = null;
const hardStop = setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout", connected: sockets.length, received }));
  process.exit(2);
}, (60 + rounds * ROUND_TIMEOUT_MS / 1000) * 1000);

function connectOne() {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: [transport || "websocket"], forceNew: true, reconnection: false });
    s.on("news", (data) => {
      if (data !== payload) errors++;
      received++;
      if (received === target) {
        lastAt = process.hrtime.bigint();
        if (onRoundDone) onRoundDone();
      }
    });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
  });
}

async function main() {
  const t0 = Date.now();
  for (let i = 0; i < clients; i += CONNECT_BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(clients, i + CONNECT_BATCH); j++) batch.push(connectOne());
    sockets.push(...(await Promise.all(batch)));
  }
  const connectSeconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500)); // let the servers finish the connect handlers
  const rates = [];
  for (let round = 0; round < rounds; round++) {
    received = 0;
    target = clients * broadcasts;
    const done = new Promise((resolve) => {
      onRoundDone = resolve;
      setTimeout(resolve, ROUND_TIMEOUT_MS);
    });
    const start = process.hrtime.bigint();
    for (let i = 0; i < broadcasts; i++) sockets[0].emit("broadcast", payload);
    await done;
    onRoundDone = null;
    if (received < target) {
      console.log(JSON.stringify({ error: `round ${round} incomplete`, received, target, rates }));
      process.exit(4);
    }
    rates.push(target / (Number(lastAt - start) / 1e9));
    await new Promise((r) => setTimeout(r, 300));
  }
  const sorted = [...rates].sort((a, b) => a - b);
  console.log(JSON.stringify({ clients, broadcasts, rounds, connect_seconds: connectSeconds, errors,
    rates: rates.map(Math.round), rate: sorted[Math.floor(sorted.length / 2)] }));
  clearTimeout(hardStop);
  sockets.forEach((s) => s.close());
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  console.log(JSON.stringify({ error: "connect_error " + (e && e.message), connected: sockets.length }));
  process.exit(3);
});
