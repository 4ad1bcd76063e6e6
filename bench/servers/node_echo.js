// Echo-with-ack server on Node socket.io 4.x (benchmark peer).
const { Server } = require("socket.io");
const io = new Server(Number(process.argv[2]), { cors: { origin: "*" } });
io.on("connection", (socket) => {
  socket.join("all");
  socket.on("echo", (data, ack) => ack(data));
  socket.on("broadcast", (data) => io.to("all").emit("news", data));
});
