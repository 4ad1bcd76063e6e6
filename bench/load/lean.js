// Lean load generator: a minimal Engine.IO 4 / Socket.IO 5 client on raw TCP sockets, so the
// load side costs far less per message than socket.io-client (whose own parsing caps what it
// can measure against fast servers). Same command lines and JSON output as echo_load.js,
// broadcast_load.js and idle_load.js; the first argument picks the scenario:
//
//   node lean.js echo      URL CLIENTS SECONDS SIZE [websocket|polling] [text|binary]
//   node lean.js broadcast URL CLIENTS BROADCASTS SIZE ROUNDS
//   node lean.js idle      URL CLIENTS HOLD_SECONDS
//
// WebSocket frames from the client are masked with an all-zero key (RFC 6455 requires a mask,
// not a random one), so masking costs nothing. Polling uses one keep-alive HTTP/1.1 connection
// per client: POST the event, then GET until the ack arrives (answering PINGs). Every wait is
// bounded by a hard stop.
//
// Binary echo sends a Socket.IO BINARY_EVENT, `451-ID["echo",{"_placeholder":true,"num":0}]`
// and one binary frame of SIZE bytes; the ack counts once the server's BINARY_ACK
// (`461-ID[{"_placeholder":true,"num":0}]`) and its binary frame arrived and the bytes match.
//
// Echo and broadcast print `{"phase":"start"}` when the measured window opens (all clients
// connected), so the runner can sample the server's and this process's CPU over the window
// alone; the result line also carries this process's own CPU time over the window
// (`self_cpu_s`, `self_cpu_pct` of one core) and the disconnects seen.
"use strict";
const net = require("net");

const [scenario, url, ...rest] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const PATH = "/socket.io/?EIO=4&transport=";
const CONNECT_BATCH = 100;

function fail(error, extra) {
  console.log(JSON.stringify({ error, ...extra }));
  process.exit(3);
}

// --- WebSocket ------------------------------------------------------------------------------

// One masked frame (FIN set), built in one buffer: opcode 1 for text, 2 for binary; above
// 65,535 bytes the length takes the 64-bit (127) form.
function wsFrame(data, opcode = 1) {
  const text = typeof data === "string";
  const n = text ? Buffer.byteLength(data) : data.length;
  const hdr = n < 126 ? 6 : n < 65536 ? 8 : 14;
  const frame = Buffer.allocUnsafe(hdr + n);
  frame[0] = 0x80 | opcode;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) { frame[1] = 0x80 | 126; frame.writeUInt16BE(n, 2); }
  else { frame[1] = 0x80 | 127; frame.writeBigUInt64BE(BigInt(n), 2); }
  frame.writeUInt32BE(0, hdr - 4);  // the all-zero masking key
  if (text) frame.write(data, hdr); else data.copy(frame, hdr);
  return frame;
}

class WsClient {
  // onMessage(text) gets every Engine.IO text message except PING (answered here);
  // onBinary(buffer) every binary message.
  constructor(onMessage, onBinary) {
    this.onMessage = onMessage;
    this.onBinary = onBinary || (() => {});
    this.chunks = [];  // received bytes not yet parsed, concatenated only when a frame is whole
    this.have = 0;
    this.need = 2;  // bytes the next parse step needs
    this.frag = null;  // [opcode, parts] of a fragmented message
    this.upgraded = false;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, hostname);
      this.sock = sock;
      sock.setNoDelay(true);
      this.ready = resolve;
      sock.on("error", reject);
      sock.on("connect", () => {
        sock.write(`GET ${PATH}websocket HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
      });
      sock.on("data", (chunk) => this.feed(chunk));
    });
  }

  send(text) { this.sock.write(wsFrame(text)); }

  sendFrame(frame) { this.sock.write(frame); }

  // Several frames in one writev (cork/uncork), e.g. a BINARY_EVENT and its attachment.
  sendFrames(...frames) {
    this.sock.cork();
    for (const f of frames) this.sock.write(f);
    this.sock.uncork();
  }

  feed(chunk) {
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < this.need) return;
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    if (!this.upgraded) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) { this.chunks = [buf]; this.need = buf.length + 1; return; }
      if (!buf.subarray(0, 12).toString().includes("101")) fail("websocket refused");
      this.upgraded = true;
      buf = buf.subarray(end + 4);
    }
    let off = 0;
    this.need = 2;
    while (buf.length - off >= 2) {
      let len = buf[off + 1] & 127, hdr = 2;
      if (len === 126) {
        if (buf.length - off < 4) { this.need = 4; break; }
        len = buf.readUInt16BE(off + 2); hdr = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) { this.need = 10; break; }
        len = Number(buf.readBigUInt64BE(off + 2)); hdr = 10;
      }
      if (buf.length - off < hdr + len) { this.need = hdr + len; break; }
      this.frame(buf[off] & 0x80, buf[off] & 15, buf.subarray(off + hdr, off + hdr + len));
      off += hdr + len;
    }
    const rest = buf.length - off;
    if (rest) this.chunks.push(off ? buf.subarray(off) : buf);
    this.have = rest;
  }

  frame(fin, opcode, data) {
    if (opcode >= 8) {  // control: answer PING, ignore PONG; CLOSE ends the socket
      if (opcode === 9) this.sendFrame(wsFrame(Buffer.from(data), 10));
      else if (opcode === 8) this.sock.destroy();
      return;
    }
    if (!fin || opcode === 0) {  // fragments: keep until FIN
      if (opcode !== 0) this.frag = [opcode, []];
      if (!this.frag) return;
      this.frag[1].push(Buffer.from(data));
      if (!fin) return;
      [opcode, data] = [this.frag[0], Buffer.concat(this.frag[1])];
      this.frag = null;
    }
    if (opcode === 2) { this.onBinary(data); return; }
    const text = data.toString("utf8");
    if (text === "2") { this.send("3"); return; }
    if (text[0] === "0") { this.send("40"); return; }       // OPEN: join "/"
    if (text.startsWith("40")) { this.ready(this); return; }  // CONNECT reply
    this.onMessage(text);
  }

  close() { this.sock.destroy(); }
}

// --- long-polling (one keep-alive connection, one request at a time) -------------------------

class PollClient {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.buf = Buffer.alloc(0);
    this.waiting = null;  // resolve of the request in flight
    this.sid = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, hostname);
      this.sock = sock;
      sock.setNoDelay(true);
      sock.on("error", reject);
      sock.on("data", (chunk) => this.feed(chunk));
      sock.on("connect", async () => {
        const open = await this.request("GET", "");
        this.sid = JSON.parse(open.slice(1)).sid;
        await this.request("POST", "40");
        for (;;) {  // until the CONNECT reply
          const body = await this.request("GET", "");
          if (body.split("\x1e").some((p) => p.startsWith("40"))) break;
        }
        resolve(this);
      });
    });
  }

  request(method, body) {
    const q = `${PATH}polling${this.sid ? "&sid=" + this.sid : ""}`;
    const head = `${method} ${q} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
      (method === "POST" ? `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : "") +
      "\r\n";
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.sock.write(method === "POST" ? head + body : head);
    });
  }

  feed(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.buf.toString("latin1", 0, end).toLowerCase();
      const m = /content-length: *(\d+)/.exec(head);
      if (!m) fail("polling response without content-length", { head });
      const len = Number(m[1]);
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.toString("utf8", end + 4, end + 4 + len);
      this.buf = this.buf.subarray(end + 4 + len);
      const resolve = this.waiting;
      this.waiting = null;
      if (resolve) resolve(body);
    }
  }

  // Poll until a message other than PING/NOOP arrives; PINGs are answered.
  async receive() {
    for (;;) {
      const body = await this.request("GET", "");
      const packets = body.split("\x1e");
      let got = false;
      for (const p of packets) {
        if (p === "2") await this.request("POST", "3");
        else if (p !== "6") { this.onMessage(p); got = true; }
      }
      if (got) return;
    }
  }

  close() { this.sock.destroy(); }
}

// --- scenarios --------------------------------------------------------------------------------

async function connectAll(n, make) {
  const clients = [];
  for (let i = 0; i < n; i += CONNECT_BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + CONNECT_BATCH); j++) batch.push(make(j).connect());
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

// CPU time of this process (user + system, seconds) since `since` (a process.cpuUsage()).
function cpuSince(since) {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

function countCloses(clients) {
  const state = { closed: 0 };
  clients.forEach((c) => c.sock.on("close", () => { state.closed++; }));
  return state;
}

async function echo(clientsArg, secondsArg, sizeArg, transport, kind) {
  const n = Number(clientsArg || 100), seconds = Number(secondsArg || 10);
  const size = Number(sizeArg || 32);
  const polling = transport === "polling", binary = kind === "binary";
  if (polling && binary) fail("binary echo runs over WebSocket only");
  const payload = JSON.stringify("x".repeat(size));
  const blob = Buffer.alloc(size, 0x78);
  const blobFrame = wsFrame(blob, 2);  // all-zero mask: the same bytes for every send
  const PLACEHOLDER = '[{"_placeholder":true,"num":0}]';
  let acks = 0, errors = 0, running = false, firstError = null;
  const latencies = [];
  const hardStop = setTimeout(() => fail("timeout", { acks }), (seconds + 60 + n / 50) * 1000);
  const state = [];
  const error = (text) => { errors++; if (firstError === null) firstError = String(text).slice(0, 200); };
  const acked = (i) => {
    acks++;
    if ((acks & 63) === 0) latencies.push(Number(process.hrtime.bigint() - state[i].t0) / 1e6);
    if (!polling) send(i);
  };
  const onMessage = (i) => (text) => {
    const st = state[i];
    if (binary) {
      if (text !== st.expect) { error(text); return; }
      st.attachment = true;  // the ack completes with the next binary frame
      return;
    }
    if (!text.startsWith("43")) return;
    if (text !== st.expect) error(text);
    acked(i);
  };
  const onBinary = (i) => (data) => {
    const st = state[i];
    if (!st.attachment) { error("unexpected binary frame"); return; }
    st.attachment = false;
    if (!data.equals(blob)) error(`binary payload of ${data.length} bytes differs`);
    acked(i);
  };
  const send = (i) => {
    if (!running) return;
    const st = state[i];
    st.id = (st.id + 1) % 1000000;
    st.t0 = process.hrtime.bigint();
    if (binary) {
      st.expect = `461-${st.id}${PLACEHOLDER}`;
      st.client.sendFrames(wsFrame(`451-${st.id}["echo",{"_placeholder":true,"num":0}]`), blobFrame);
    } else {
      st.expect = `43${st.id}[${payload}]`;
      st.client.send(`42${st.id}["echo",${payload}]`);
    }
  };
  const pollLoop = async (i) => {
    const st = state[i];
    while (running) {
      st.id = (st.id + 1) % 1000000;
      st.expect = `43${st.id}[${payload}]`;
      st.t0 = process.hrtime.bigint();
      await st.client.request("POST", `42${st.id}["echo",${payload}]`);
      await st.client.receive();
    }
  };
  const tc = Date.now();
  const clients = await connectAll(n, (i) => {
    state[i] = { id: 0, expect: "", t0: 0n, client: null, attachment: false };
    const c = polling ? new PollClient(onMessage(i)) : new WsClient(onMessage(i), onBinary(i));
    state[i].client = c;
    return c;
  });
  const connectSeconds = (Date.now() - tc) / 1000;
  const closes = countCloses(clients);
  console.log(JSON.stringify({ phase: "start", connected: clients.length }));
  running = true;
  const t0 = Date.now(), cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) { if (polling) pollLoop(i); else send(i); }
  setTimeout(() => {
    running = false;
    const elapsed = (Date.now() - t0) / 1000, cpu = cpuSince(cpu0);
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null;
    console.log(JSON.stringify({ clients: n, seconds: elapsed, acks, rate: acks / elapsed, errors,
      first_error: firstError, p50_ms: pct(0.5), p99_ms: pct(0.99), connect_seconds: connectSeconds,
      disconnects: closes.closed, self_cpu_s: cpu, self_cpu_pct: 100 * cpu / elapsed,
      payload: binary ? "binary" : "text", size, load: "lean" }));
    clearTimeout(hardStop);
    clients.forEach((c) => c.close());
    setTimeout(() => process.exit(0), 100);
  }, seconds * 1000);
}

async function broadcast(clientsArg, broadcastsArg, sizeArg, roundsArg) {
  const n = Number(clientsArg || 1000), m = Number(broadcastsArg || 100);
  const rounds = Number(roundsArg || 3);
  const payload = JSON.stringify("x".repeat(Number(sizeArg || 32)));
  const expected = `42["news",${payload}]`;
  const ROUND_TIMEOUT_MS = 60000;
  let received = 0, errors = 0, target = 0, lastAt = 0n, onRoundDone = null;
  const hardStop = setTimeout(() => fail("timeout", { received }), (60 + rounds * 60) * 1000);
  const onMessage = (text) => {
    if (text !== expected) { errors++; return; }
    received++;
    if (received === target) { lastAt = process.hrtime.bigint(); if (onRoundDone) onRoundDone(); }
  };
  const t0 = Date.now();
  const clients = await connectAll(n, () => new WsClient(onMessage));
  const connectSeconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  console.log(JSON.stringify({ phase: "start", connected: clients.length }));
  const rates = [], cpu0 = process.cpuUsage(), w0 = Date.now();
  for (let round = 0; round < rounds; round++) {
    received = 0;
    target = n * m;
    const done = new Promise((resolve) => { onRoundDone = resolve; setTimeout(resolve, ROUND_TIMEOUT_MS); });
    const start = process.hrtime.bigint();
    for (let i = 0; i < m; i++) clients[0].send(`42["broadcast",${payload}]`);
    await done;
    onRoundDone = null;
    if (received < target) fail(`round ${round} incomplete`, { received, target, rates });
    rates.push(target / (Number(lastAt - start) / 1e9));
    await new Promise((r) => setTimeout(r, 300));
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const cpu = cpuSince(cpu0), elapsed = (Date.now() - w0) / 1000;
  console.log(JSON.stringify({ clients: n, broadcasts: m, rounds, connect_seconds: connectSeconds, errors,
    rates: rates.map(Math.round), rate: sorted[Math.floor(sorted.length / 2)], deliveries: n * m * rounds,
    self_cpu_s: cpu, self_cpu_pct: 100 * cpu / elapsed, load: "lean" }));
  clearTimeout(hardStop);
  clients.forEach((c) => c.close());
  setTimeout(() => process.exit(0), 200);
}

async function idle(clientsArg, holdArg) {
  const n = Number(clientsArg || 2000), hold = Number(holdArg || 10);
  const hardStop = setTimeout(() => fail("timeout"), (120 + n / 50 + hold) * 1000);
  const t0 = Date.now();
  const clients = await connectAll(n, () => new WsClient(() => {}));
  const closes = countCloses(clients);
  const connectSeconds = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ ready: true, connected: clients.length, connect_seconds: connectSeconds }));
  await new Promise((r) => setTimeout(r, hold * 1000));
  console.log(JSON.stringify({ clients: n, connected: clients.length, alive: clients.length - closes.closed,
    disconnects: closes.closed, connect_seconds: connectSeconds, load: "lean" }));
  clearTimeout(hardStop);
  clients.forEach((c) => c.close());
  setTimeout(() => process.exit(0), 200);
}

const run = { echo, broadcast, idle }[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run(...rest).catch((e) => fail("connect_error " + (e && e.message)));
