// A minimal HTTP/2 client for unary gRPC calls over cleartext TCP, written for the etcd load
// generator: node:http2 costs ≈130 µs of client CPU per call on this machine, which on 2 shared
// cores would be taken from etcd; this one writes one precomputed buffer per call and parses frames
// itself (RFC 9113), so the client stays a small fraction of a core.
//
// Scope, deliberately narrow: one fixed request header block per connection (HPACK literals, no
// dynamic table on our side); response header blocks are skipped, not decoded, so a call counts as
// successful when the server sent a response message (DATA) before ending the stream — a gRPC
// server answers a failed unary call with headers/trailers only. Callers verify the outcome
// independently (the etcd benchmark checks the store's revision moved by exactly the successes).

import { connect } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const T_DATA = 0x0;
const T_HEADERS = 0x1;
const T_RST_STREAM = 0x3;
const T_SETTINGS = 0x4;
const T_PING = 0x6;
const T_GOAWAY = 0x7;
const T_WINDOW_UPDATE = 0x8;
const F_END_STREAM = 0x1;
const F_ACK = 0x1;
const F_END_HEADERS = 0x4;
const F_PADDED = 0x8;
// Our receive window: large, so the server never waits for us; topped up when half is used.
const RECV_WINDOW = 1 << 30;

function frame(type, flags, streamId, payload) {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId, 5);
  payload.copy(b, 9);
  return b;
}

function hpackString(s) {
  const v = Buffer.from(s, 'latin1');
  if (v.length >= 127) throw new Error('header value too long for this encoder');
  return Buffer.concat([Buffer.from([v.length]), v]);
}

/** Request header block: :method POST, :scheme http, :path, :authority, content-type, te. */
function requestHeaderBlock(path, authority) {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // indexed: static 3 (:method POST), static 6 (:scheme http)
    Buffer.from([0x04]), // literal without indexing, name = static 4 (:path)
    hpackString(path),
    Buffer.from([0x01]), // name = static 1 (:authority)
    hpackString(authority),
    Buffer.from([0x0f, 0x10]), // name = static 31 (content-type), 4-bit prefix overflow
    hpackString('application/grpc'),
    Buffer.from([0x00]), // new name
    hpackString('te'),
    hpackString('trailers'),
  ]);
}

export class H2UnaryConnection {
  /** @param {import('node:net').Socket} socket @param {string} path @param {string} authority */
  constructor(socket, path, authority) {
    this.socket = socket;
    this.headerBlock = requestHeaderBlock(path, authority);
    this.nextStreamId = 1;
    /** @type {Map<number, { cb: (err: string|null, message: Buffer|null) => void, message: Buffer|null }>} */
    this.streams = new Map();
    this.sendWindow = 65_535; // connection-level, RFC default until the server updates it
    this.streamWindow = 65_535; // per new stream, from the server's SETTINGS_INITIAL_WINDOW_SIZE
    this.received = 0;
    /** @type {{ body: Buffer, cb: Function }[]} */
    this.blocked = [];
    this.pending = Buffer.alloc(0);
    this.closedWith = null;
    socket.setNoDelay(true);
    socket.on('data', (d) => this.onData(d));
    socket.on('error', (e) => this.fail(`socket error: ${e.code ?? e.message}`));
    socket.on('close', () => this.fail('connection closed'));
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH = 0
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(RECV_WINDOW, 8);
    const inc = Buffer.alloc(4);
    inc.writeUInt32BE(RECV_WINDOW - 65_535);
    socket.write(Buffer.concat([PREFACE, frame(T_SETTINGS, 0, 0, settings), frame(T_WINDOW_UPDATE, 0, 0, inc)]));
  }

  /** @param {string} endpoint host:port @param {string} path e.g. /etcdserverpb.KV/Put */
  static open(endpoint, path) {
    const i = endpoint.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const s = connect({ host: endpoint.slice(0, i), port: Number(endpoint.slice(i + 1)) });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new H2UnaryConnection(s, path, endpoint));
      });
      s.once('error', reject);
    });
  }

  /**
   * One unary call; `body` is the gRPC length-prefixed message. The callback gets (null, response
   * message frame) on success or an error string.
   * @param {Buffer} body @param {(err: string|null, message: Buffer|null) => void} cb
   */
  call(body, cb) {
    if (this.closedWith) return cb(this.closedWith, null);
    if (body.length > this.sendWindow || body.length > this.streamWindow || this.blocked.length > 0) {
      this.blocked.push({ body, cb });
      return;
    }
    this.send(body, cb);
  }

  send(body, cb) {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    this.sendWindow -= body.length;
    this.streams.set(id, { cb, message: null });
    this.socket.write(Buffer.concat([frame(T_HEADERS, F_END_HEADERS, id, this.headerBlock), frame(T_DATA, F_END_STREAM, id, body)]));
  }

  close() {
    this.fail('closed by client');
    this.socket.destroy();
  }

  fail(reason) {
    if (this.closedWith) return;
    this.closedWith = reason;
    for (const s of this.streams.values()) s.cb(reason, null);
    this.streams.clear();
    for (const b of this.blocked) b.cb(reason, null);
    this.blocked = [];
  }

  onData(d) {
    let buf = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let off = 0;
    while (buf.length - off >= 9) {
      const len = buf.readUIntBE(off, 3);
      if (buf.length - off < 9 + len) break;
      const type = buf[off + 3];
      const flags = buf[off + 4];
      const sid = buf.readUInt32BE(off + 5) & 0x7fffffff;
      this.onFrame(type, flags, sid, buf.subarray(off + 9, off + 9 + len));
      off += 9 + len;
    }
    buf = buf.subarray(off);
    // Copy the tail so the (possibly large) chunk it points into can be freed.
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  onFrame(type, flags, sid, p) {
    switch (type) {
      case T_DATA: {
        this.received += p.length;
        if (this.received >= RECV_WINDOW / 2) {
          const inc = Buffer.alloc(4);
          inc.writeUInt32BE(this.received);
          this.received = 0;
          this.socket.write(frame(T_WINDOW_UPDATE, 0, 0, inc));
        }
        const s = this.streams.get(sid);
        if (s) {
          const pad = flags & F_PADDED ? p[0] + 1 : 0;
          const data = p.subarray(flags & F_PADDED ? 1 : 0, p.length - (pad > 0 ? pad - 1 : 0));
          s.message = s.message ? Buffer.concat([s.message, data]) : Buffer.from(data);
        }
        if (flags & F_END_STREAM) this.endStream(sid);
        break;
      }
      case T_HEADERS:
        // Header blocks are not decoded (see the file comment); CONTINUATION frames are ignored too.
        if (flags & F_END_STREAM) this.endStream(sid);
        break;
      case T_RST_STREAM: {
        const s = this.streams.get(sid);
        if (s) {
          this.streams.delete(sid);
          s.cb(`RST_STREAM code ${p.readUInt32BE(0)}`, null);
        }
        break;
      }
      case T_SETTINGS:
        if (flags & F_ACK) break;
        for (let i = 0; i + 6 <= p.length; i += 6) {
          if (p.readUInt16BE(i) === 0x4) {
            const v = p.readUInt32BE(i + 2);
            this.streamWindow = v;
          }
        }
        this.socket.write(frame(T_SETTINGS, F_ACK, 0, Buffer.alloc(0)));
        break;
      case T_PING:
        if (!(flags & F_ACK)) this.socket.write(frame(T_PING, F_ACK, 0, p));
        break;
      case T_GOAWAY:
        this.fail(`GOAWAY error code ${p.readUInt32BE(4)}`);
        break;
      case T_WINDOW_UPDATE:
        if (sid === 0) {
          this.sendWindow += p.readUInt32BE(0) & 0x7fffffff;
          while (this.blocked.length > 0 && this.blocked[0].body.length <= this.sendWindow) {
            const b = this.blocked.shift();
            this.send(b.body, b.cb);
          }
        }
        break;
      default:
        break; // PRIORITY, PUSH_PROMISE (disabled), CONTINUATION, unknown: nothing to do
    }
  }

  endStream(sid) {
    const s = this.streams.get(sid);
    if (!s) return;
    this.streams.delete(sid);
    if (s.message && s.message.length >= 5) s.cb(null, s.message);
    else s.cb('stream ended without a response message (gRPC error status)', null);
  }
}
