// Load generator: N socket.io-client 4.x clients over WebSocket, each in a closed loop
// emit("echo", payload, ack) for a fixed time. Prints one JSON line with the totals.
const { io } = require("socket.io-client");
const [url, clientsArg, secondsArg, sizeArg, transport] = process.argv.slice(2);
const clients = Number(clientsArg || 100), seconds = Number(secondsArg || 10), size = Number(sizeArg || 32);
const payload = "x".repeat(size);
const sockets = [];
let connected = 0, acks = 0, running = false, errors = 0;
const latencies = [];
const hardStop = setTimeout(() => { console.log(JSON.stringify({ error: "timeout", connected, acks })); process.exit(2); }, (seconds + 60) * 1000);

function loop(s) {
  if (!running) return;
  const t0 = process.hrtime.bigint();
  s.emit("echo", payload, (reply) => {
    if (reply !== payload) errors++;
    acks++;
    if ((acks & 63) === 0) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    loop(s);
  });
}

for (let i = 0; i < clients; i++) {
  const s = io(url, { transports: [transport || "websocket"], forceNew: true, reconnection: false });
  s.on("connect", () => {
    connected++;
    if (connected === clients) start();
  });
  s.on("connect_error", (e) => { console.log(JSON.stringify({ error: "connect_error " + e.message })); process.exit(3); });
  sockets.push(s);
}

function start() {
  running = true;
  const t0 = Date.now();
  sockets.forEach(loop);
  setTimeout(() => {
    running = false;
    const elapsed = (Date.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null;
    console.log(JSON.stringify({ clients, seconds: elapsed, acks, rate: acks / elapsed, errors,
      p50_ms: pct(0.5), p99_ms: pct(0.99) }));
    clearTimeout(hardStop);
    sockets.forEach((s) => s.close());
    setTimeout(() => process.exit(0), 100);
  }, seconds * 1000);
}
