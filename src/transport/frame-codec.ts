// Peer wire framing: u32 BE length ‖ msgpackr payload (DESIGN.md §1 transport/).
//
// The decoder is incremental (any chunk boundary), checks the announced length against
// `maxFrameBytes` before it buffers a single payload byte, and turns every decode failure
// into a TransportError: the peer is untrusted input until the handshake says otherwise,
// and even then a bug on the other side must not crash this node.

import { C1, Packr } from 'msgpackr';
import { TransportError } from '../errors.js';

/** Default cap on one frame's payload; snapshot chunks must be sized below it. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export const FRAME_HEADER_BYTES = 4;

// One shared Packr: records off (each frame must decode alone, no shared structures),
// `moreTypes` so a Uint8Array comes back as a Uint8Array, 64-bit ints as bigint (C-2).
const packr = new Packr({ useRecords: false, moreTypes: true, int64AsType: 'bigint' });

const EMPTY = Buffer.alloc(0);

/** Serializes `value` into [header, payload]; two buffers so the payload is never copied. */
export function encodeFrame(value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): [Buffer, Buffer] {
  let payload: Buffer;
  try {
    payload = packr.pack(value);
  } catch (e) {
    throw new TransportError('FRAME_ENCODE', `cannot encode frame: ${(e as Error).message}`, { cause: e });
  }
  if (payload.length > maxFrameBytes) {
    throw new TransportError('FRAME_TOO_LARGE', `frame of ${payload.length} bytes exceeds the ${maxFrameBytes}-byte limit`);
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  return [header, payload];
}

/** Convenience for tests and one-off writes: header and payload in one buffer. */
export function encodeFrameBuffer(value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  const [h, p] = encodeFrame(value, maxFrameBytes);
  return Buffer.concat([h, p]);
}

/** Decodes one complete payload; every failure is a TransportError(FRAME_MALFORMED). */
export function decodePayload(payload: Uint8Array): unknown {
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (e) {
    throw new TransportError('FRAME_MALFORMED', `undecodable frame payload (${payload.length} bytes): ${describe(e)}`, {
      cause: e,
    });
  }
  // msgpackr maps the never-used byte 0xC1 to a sentinel instead of failing; at top level it is
  // no value at all (nested, the message validator of the transport rejects the shape).
  if (value === C1) {
    throw new TransportError('FRAME_MALFORMED', 'frame payload uses the reserved msgpack byte 0xC1');
  }
  return value;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Incremental frame decoder. `push(chunk)` returns the values of every frame completed by
 * the chunk. After it throws, the stream is out of sync: the caller must close the connection.
 */
export class FrameDecoder {
  private maxFrameBytes: number;
  // Bytes not yet consumed: `head` (from `headPos`) followed by `tail` chunks. Chunks are only
  // concatenated once a whole frame is present, so a large frame costs one copy, not n².
  private head: Buffer = EMPTY;
  private headPos = 0;
  private tail: Buffer[] = [];
  private buffered = 0;
  private need = -1; // payload length of the frame in progress, -1 while reading its header
  private failed: TransportError | null = null;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Changes the limit for frames whose header has not been read yet (e.g. raised after a handshake). */
  setMaxFrameBytes(n: number): void {
    this.maxFrameBytes = n;
  }

  /** Bytes held for a frame in progress (never more than one frame plus a chunk). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Decodes every frame the chunk completes and returns their values. Throws TransportError. */
  push(chunk: Uint8Array): unknown[] {
    const out: unknown[] = [];
    this.pushEach(chunk, (v) => {
      out.push(v);
    });
    return out;
  }

  /**
   * Like `push`, but hands each value to `onFrame` as soon as it is decoded, so the callback can
   * change the frame limit for the next header (after a handshake). `onFrame` returning false
   * stops decoding and discards the rest (the caller closed the connection). Errors thrown by
   * `onFrame` propagate unchanged and also leave the decoder failed.
   */
  pushEach(chunk: Uint8Array, onFrame: (value: unknown) => boolean | undefined): void {
    if (this.failed) throw this.failed;
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.buffered === 0) {
      this.head = buf;
      this.headPos = 0;
    } else {
      this.tail.push(buf);
    }
    this.buffered += buf.length;
    let value: unknown;
    for (;;) {
      try {
        if (this.need < 0) {
          if (this.buffered < FRAME_HEADER_BYTES) break;
          const len = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
          if (len > this.maxFrameBytes) {
            throw new TransportError('FRAME_TOO_LARGE', `frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
          }
          if (len === 0) throw new TransportError('FRAME_MALFORMED', 'empty frame payload');
          this.need = len;
        }
        if (this.buffered < this.need) break;
        const payload = this.take(this.need);
        this.need = -1;
        value = decodePayload(payload);
      } catch (e) {
        this.failed =
          e instanceof TransportError
            ? e
            : new TransportError('FRAME_MALFORMED', `frame decoder failure: ${describe(e)}`, { cause: e });
        this.release();
        throw this.failed;
      }
      let more: boolean | undefined;
      try {
        more = onFrame(value);
      } catch (e) {
        this.failed = new TransportError('FRAME_CONSUMER', 'frame consumer failed', { cause: e });
        this.release();
        throw e;
      }
      if (more === false) {
        this.failed = new TransportError('FRAME_STOPPED', 'decoding stopped by the consumer');
        this.release();
        return;
      }
    }
    if (this.buffered === 0) this.release();
  }

  /** Removes `n` buffered bytes (n ≤ buffered); a view when they sit in one chunk (zero-copy). */
  private take(n: number): Buffer {
    const inHead = this.head.length - this.headPos;
    let res: Buffer;
    if (inHead >= n) {
      res = this.head.subarray(this.headPos, this.headPos + n);
      this.headPos += n;
    } else {
      res = Buffer.allocUnsafe(n);
      this.head.copy(res, 0, this.headPos);
      let filled = inHead;
      let i = 0;
      while (filled < n) {
        const c = this.tail[i]!;
        const k = Math.min(c.length, n - filled);
        c.copy(res, filled, 0, k);
        filled += k;
        if (k < c.length) {
          this.tail[i] = c.subarray(k);
          break;
        }
        i++;
      }
      this.tail.splice(0, i);
      this.head = this.tail.shift() ?? EMPTY;
      this.headPos = 0;
    }
    this.buffered -= n;
    if (this.headPos === this.head.length && this.tail.length > 0) {
      this.head = this.tail.shift()!;
      this.headPos = 0;
    }
    return res;
  }

  private release(): void {
    this.head = EMPTY;
    this.headPos = 0;
    this.tail = [];
    this.buffered = 0;
  }
}
