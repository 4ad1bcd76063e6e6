// A Node socket.io cluster node with @socket.io/redis-adapter for bench/cluster.py:
// `node node_cluster.js PORT KEY`. Every socket joins room "r"; GET /burst?n=N emits N to it.
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
(async () => {
  const pub = createClient({ url: "redis://127.0.0.1:6379" });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer((req, res) => {
    const n = Number(new URL(req.url, "http://x").searchParams.get("n"));
    for (let i = 0; i < n; i++) io.to("r").emit("b", i);
    res.end("ok");
  });
  const io = new Server(server, { adapter: createAdapter(pub, sub, { key: process.argv[3] }) });
  io.on("connection", (socket) => socket.join("r"));
  server.listen(Number(process.argv[2]), "127.0.0.1");
})();
