// Load generator: N idle socket.io-client 4.x connections. Opens them in batches, prints
// {"ready": true, ...} once all are connected, keeps them open (heartbeats only) for
// hold_seconds, then closes them and prints the final JSON line. Every wait is bounded.
const { io } = require("socket.io-client");
const [url, clientsArg, holdArg, transport] = process.argv.slice(2);
const clients = Number(clientsArg || 2000), hold = Number(holdArg || 10);
const CONNECT_BATCH = 100;
const sockets = [];
let disconnects = 0;
const hardStop = setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout", connected: sockets.length }));
  process.exit(2);
}, (120 + hold) * 1000);

function connectOne() {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: [transport || "websocket"], forceNew: true, reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
    s.on("disconnect", () => { disconnects++; });
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
  console.log(JSON.stringify({ ready: true, connected: sockets.length, connect_seconds: connectSeconds }));
  await new Promise((r) => setTimeout(r, hold * 1000));
  const alive = sockets.filter((s) => s.connected).length;
  console.log(JSON.stringify({ clients, connected: sockets.length, alive, disconnects,
    connect_seconds: connectSeconds }));
  clearTimeout(hardStop);
  sockets.forEach((s) => s.close());
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  console.log(JSON.stringify({ error: "connect_error " + (e && e.message), connected: sockets.length }));
  process.exit(3);
});
