// Clients for bench/cluster.py: CLIENTS socket.io-client 4.x WebSocket clients on URL; prints
// {"ready":true} once all are connected, then {"done": ms} when each got EXPECT "b" events;
// every client acks "ask" with its argument. The runner kills it.
const { io } = require("socket.io-client");
const [url, clients, expect] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
let connected = 0, total = 0, start = 0;
setTimeout(() => { console.log(JSON.stringify({ timeout: total })); process.exit(1); }, 120000);
for (let i = 0; i < clients; i++) {
  const s = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
  s.on("ask", (i, cb) => cb(i));
  s.on("connect", () => { if (++connected === clients) console.log(JSON.stringify({ ready: true })); });
  s.on("b", () => {
    if (total++ === 0) start = Date.now();
    if (total === clients * expect) console.log(JSON.stringify({ done: Date.now() - start }));
  });
}
