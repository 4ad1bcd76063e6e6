// A Node socket.io cluster node with @socket.io/redis-adapter for bench/cluster.py:
// `node node_cluster.js PORT KEY`. Every socket joins room "r"; GET /burst?n=N emits N to it;
// GET /calls?n=N awaits N sequential io.to("r").timeout(5000).emitWithAck("ask", i).
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
(async () => {
  const pub = createClient({ url: "redis://127.0.0.1:6379" });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const n = Number(url.searchParams.get("n"));
    if (url.pathname === "/calls") {
      for (let i = 0; i < n; i++) await io.to("r").timeout(5000).emitWithAck("ask", i);
    } else {
      for (let i = 0; i < n; i++) io.to("r").emit("b", i);
    }
    res.end("ok");
  });
  const io = new Server(server, { adapter: createAdapter(pub, sub, { key: process.argv[3] }) });
  io.on("connection", (socket) => socket.join("r"));
  server.listen(Number(process.argv[2]), "127.0.0.1");
})();
