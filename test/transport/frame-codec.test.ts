import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SealkvError, TransportError } from '../../src/errors.js';
import { decodePayload, encodeFrame, encodeFrameBuffer, FrameDecoder } from '../../src/transport/frame-codec.js';

// Values a Raft message can hold: msgpack scalars, bytes, u64 as bigint (C-2), nesting.
const wireValue = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.string(),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 64 }),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('node'), { maxKeys: 5 }),
  ),
})).node;

// msgpack keeps integral doubles as ints and bigints below 2^32 as ints: compare on that footing.
function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Object.is(v, -0)) return 0;
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('frame codec', () => {
  it('round-trips a Raft-like message with bytes and u64 bigints', () => {
    const msg = {
      type: 'append',
      term: 7n,
      index: 2n ** 63n + 11n,
      entries: [{ term: 7n, index: 18446744073709551615n, data: new Uint8Array([1, 2, 3]) }],
      blob: Buffer.from('abc'),
    };
    const dec = new FrameDecoder();
    const [out] = dec.push(encodeFrameBuffer(msg)) as [typeof msg];
    expect(out.term).toBe(7n);
    expect(out.index).toBe(2n ** 63n + 11n);
    expect(out.entries[0]!.index).toBe(18446744073709551615n);
    expect(out.entries[0]!.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(out.entries[0]!.data)).toEqual([1, 2, 3]);
    expect(out.blob).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(out.blob).toString()).toBe('abc');
  });

  it('writes the payload length as a u32 big-endian prefix (C-1)', () => {
    const [header, payload] = encodeFrame('hello');
    expect(header.length).toBe(4);
    expect(header.readUInt32BE(0)).toBe(payload.length);
  });

  it('refuses to encode a frame above the limit', () => {
    expect(() => encodeFrame(new Uint8Array(2000), 1000)).toThrow(TransportError);
    try {
      encodeFrame(new Uint8Array(2000), 1000);
    } catch (e) {
      expect((e as TransportError).code).toBe('FRAME_TOO_LARGE');
    }
  });

  it('yields the same frames whatever the chunk boundaries (property)', () => {
    fc.assert(
      fc.property(fc.array(wireValue, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (values, cuts) => {
        const stream = Buffer.concat(values.map((v) => encodeFrameBuffer(v)));
        const dec = new FrameDecoder();
        const out: unknown[] = [];
        for (const chunk of splitAt(stream, cuts)) out.push(...dec.push(chunk));
        expect(out.map(normalize)).toEqual(values.map(normalize));
        expect(dec.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes byte-at-a-time delivery', () => {
    const frames = [{ a: 1n }, 'x', [1, 2, 3], new Uint8Array(300).fill(9)];
    const stream = Buffer.concat(frames.map((f) => encodeFrameBuffer(f)));
    const dec = new FrameDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...dec.push(stream.subarray(i, i + 1)));
    expect(out.map(normalize)).toEqual(frames.map(normalize));
  });

  it('rejects an oversize length prefix before buffering the payload', () => {
    const dec = new FrameDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025, 0);
    let err: unknown;
    try {
      dec.push(header); // no payload byte sent yet
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe('FRAME_TOO_LARGE');
    expect(dec.bufferedBytes).toBe(0);
    // The decoder stays failed: the stream is out of sync.
    expect(() => dec.push(Buffer.from([1]))).toThrow(TransportError);
  });

  it('applies a limit raised by the consumer to the very next frame of the same chunk', () => {
    const dec = new FrameDecoder(64); // e.g. the handshake-phase limit
    const stream = Buffer.concat([encodeFrameBuffer(['hello']), encodeFrameBuffer(new Uint8Array(1000))]);
    const seen: unknown[] = [];
    dec.pushEach(stream, (v) => {
      seen.push(v);
      dec.setMaxFrameBytes(4096);
      return true;
    });
    expect(seen.length).toBe(2);
    // Without raising it, the second frame is refused.
    expect(() => new FrameDecoder(64).push(stream)).toThrow(/exceeds the 64-byte limit/);
  });

  it('stops decoding when the consumer returns false', () => {
    const dec = new FrameDecoder();
    const stream = Buffer.concat([encodeFrameBuffer(1), encodeFrameBuffer(2)]);
    const seen: unknown[] = [];
    dec.pushEach(stream, (v) => {
      seen.push(v);
      return false;
    });
    expect(seen).toEqual([1]);
    expect(dec.bufferedBytes).toBe(0);
  });

  it('rejects an empty frame and an undecodable payload with typed errors', () => {
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0]))).toThrow(/empty frame/);
    const bad = Buffer.from([0, 0, 0, 1, 0xc1]);
    expect(() => new FrameDecoder().push(bad)).toThrow(TransportError);
    const trailing = Buffer.from([0, 0, 0, 2, 0x01, 0x02]); // two values in one frame
    expect(() => new FrameDecoder().push(trailing)).toThrow(TransportError);
    const truncated = Buffer.from([0, 0, 0, 2, 0x92, 0x01]); // array of 2 with one element
    expect(() => new FrameDecoder().push(truncated)).toThrow(TransportError);
    expect(() => decodePayload(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]))).toThrow(TransportError);
  });

  // Fuzz: arbitrary bytes, valid frames with garbage/truncation, huge prefixes. The decoder must
  // return frames, wait for more, or throw a TransportError — nothing else, and in bounded time.
  it('fuzz: random and truncated input gives frames, needs-more or a TransportError', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      // A plausible length prefix followed by random payload bytes (exercises the msgpack decoder).
      fc
        .uint8Array({ minLength: 1, maxLength: 256 })
        .map((p) => Buffer.concat([Buffer.from([0, 0, (p.length >> 8) & 0xff, p.length & 0xff]), p])),
      // A valid frame, truncated or with bytes flipped.
      fc.tuple(wireValue, fc.nat(), fc.nat(255)).map(([v, cut, flip]) => {
        const b = Buffer.from(encodeFrameBuffer(v));
        if (b.length > 4) b[4 + (flip % (b.length - 4))] ^= flip || 1;
        return b.subarray(0, cut % (b.length + 1));
      }),
      fc.nat({ max: 0xffffffff }).map((n) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, 1, 2, 3])),
    );
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const dec = new FrameDecoder(4096);
        for (const chunk of splitAt(Buffer.from(bytes), cuts)) {
          try {
            dec.push(chunk);
          } catch (e) {
            expect(e).toBeInstanceOf(TransportError);
            expect(e).toBeInstanceOf(SealkvError);
            expect(['FRAME_TOO_LARGE', 'FRAME_MALFORMED']).toContain((e as TransportError).code);
            return;
          }
        }
        // Still waiting for more data is fine, but never more than one frame's worth.
        expect(dec.bufferedBytes).toBeLessThanOrEqual(4096 + 4);
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: deeply nested payloads end in a TransportError, not a stack overflow escaping', () => {
    const deep = Buffer.alloc(200_000, 0x91); // [[[[...]]]] without a leaf
    const frame = Buffer.concat([Buffer.alloc(4), deep]);
    frame.writeUInt32BE(deep.length, 0);
    expect(() => new FrameDecoder().push(frame)).toThrow(TransportError);
  });
});
