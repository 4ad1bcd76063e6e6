// Polling echo where the handshake goes to one process (the owner) and every later request to
// another (ENTRY): each one is then forwarded to the owner (issue 12). With ENTRY = OWNER it is
// the local baseline. One keep-alive connection per client and entry, one request in flight,
// closed loop. Comma-separated lists act as a round-robin balancer: client i handshakes with
// OWNER i mod n, and its requests take the ENTRY URLs in turn.
//
//   node forward_load.js OWNER_URL[,...] ENTRY_URL[,...] CLIENTS SECONDS
//
// Prints {"phase":"start"} when all clients are connected, then one JSON result line.
"use strict";
const net = require("net");

const [ownerUrl, entryUrl, clientsArg, secondsArg] = process.argv.slice(2);
const owners = ownerUrl.split(",").map((u) => new URL(u));
const entries = entryUrl.split(",").map((u) => new URL(u));
const PATH = "/socket.io/?EIO=4&transport=polling";
const fail = (error) => { console.log(JSON.stringify({ error })); process.exit(3); };
setTimeout(() => fail("hard stop"), (Number(secondsArg) + 60) * 1000);

class Conn {
  constructor(url) {
    this.buf = Buffer.alloc(0); this.waiting = null;
    this.sock = net.connect(Number(url.port), url.hostname);
    this.sock.setNoDelay(true);
    this.host = url.host;
    this.sock.on("error", (e) => fail(String(e)));
    this.sock.on("data", (c) => this.feed(c));
    this.ready = new Promise((r) => this.sock.on("connect", r));
  }
  request(method, q, body) {
    const head = `${method} ${q} HTTP/1.1\r\nHost: ${this.host}\r\n` +
      (method === "POST" ? `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : "") + "\r\n";
    return new Promise((resolve) => { this.waiting = resolve; this.sock.write(method === "POST" ? head + body : head); });
  }
  feed(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.buf.toString("latin1", 0, end).toLowerCase();
      const m = /content-length: *(\d+)/.exec(head);
      if (!m) fail("response without content-length: " + head);
      const len = Number(m[1]);
      if (this.buf.length < end + 4 + len) return;
      const status = Number(head.slice(9, 12));
      const body = this.buf.toString("utf8", end + 4, end + 4 + len);
      this.buf = this.buf.subarray(end + 4 + len);
      if (status !== 200) fail(`HTTP ${status}: ${body}`);
      const r = this.waiting; this.waiting = null; if (r) r(body);
    }
  }
}

class Turns {  // the entries' connections in turn, one request at a time
  constructor(conns) { this.conns = conns; this.turn = 0; }
  request(method, q, body) { return this.conns[this.turn++ % this.conns.length].request(method, q, body); }
}

async function client(_, i) {
  const hs = new Conn(owners[i % owners.length]); await hs.ready;
  const sid = JSON.parse((await hs.request("GET", PATH, "")).slice(1)).sid;
  hs.sock.destroy();
  const conns = entries.map((u) => new Conn(u));
  for (const conn of conns) await conn.ready;
  const c = new Turns(conns);
  const q = `${PATH}&sid=${sid}`;
  await c.request("POST", q, "40");
  for (let i = 0; i < 10; i++) if ((await c.request("GET", q, "")).includes("40")) break;
  return { c, q };
}

(async () => {
  const n = Number(clientsArg), seconds = Number(secondsArg);
  const clients = await Promise.all([...Array(n)].map(client));
  console.log(JSON.stringify({ phase: "start" }));
  const lat = []; let acks = 0; const t0 = Date.now(); const stopAt = t0 + seconds * 1000;
  let cpu0 = process.cpuUsage();
  await Promise.all(clients.map(async ({ c, q }, i) => {
    let id = 0;
    while (Date.now() < stopAt) {
      const s = process.hrtime.bigint();
      await c.request("POST", q, `42${id}["echo","${"x".repeat(32)}"]`);
      for (;;) {
        const body = await c.request("GET", q, "");
        const packets = body.split("\x1e");
        if (packets.includes("2")) await c.request("POST", q, "3");
        if (packets.some((p) => p.startsWith(`43${id}`))) break;
      }
      lat.push(Number(process.hrtime.bigint() - s) / 1e6); acks++; id++;
    }
  }));
  const secs = (Date.now() - t0) / 1000;
  const u = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ acks, acks_per_s: acks / secs, p50_ms: lat[lat.length >> 1],
    p99_ms: lat[Math.floor(lat.length * 0.99)], self_cpu_pct: 100 * (u.user + u.system) / 1e6 / secs }));
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
