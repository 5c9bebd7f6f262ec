import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProposalError, ProtocolError, SealkvError } from '../../src/errors.js';
import {
  array,
  bulk,
  encodeReplies,
  encodeReply,
  error,
  errorReply,
  int,
  NIL,
  NIL_ARRAY,
  OK,
  RespParser,
  type RespLimits,
  simple,
  splitInlineArgs,
} from '../../src/server/resp-codec.js';

function multibulk(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Feeds chunks and collects commands; returns the ProtocolError if one is thrown. */
function parseAll(chunks: Buffer[], limits?: RespLimits): { cmds: string[][]; err: ProtocolError | null } {
  const p = new RespParser(limits);
  const cmds: string[][] = [];
  try {
    for (const c of chunks) {
      p.feed(c);
      for (let cmd = p.next(); cmd !== null; cmd = p.next()) cmds.push(cmd.map((a) => a.toString('latin1')));
    }
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return { cmds, err: e };
  }
  return { cmds, err: null };
}

describe('RespParser', () => {
  it('parses redis-cli style multibulk commands, binary-safe', () => {
    const bin = Buffer.from([0, 13, 10, 255, 42, 36]);
    const { cmds, err } = parseAll([multibulk('SET', 'key', bin)]);
    expect(err).toBeNull();
    expect(cmds).toEqual([['SET', 'key', bin.toString('latin1')]]);
  });

  it('parses inline commands as telnet sends them, with quotes and escapes', () => {
    const { cmds } = parseAll([Buffer.from('PING\r\nset  k   "a b\\x41\\n" \'it\\\'s\'\nGET k\r\n\r\n')]);
    expect(cmds).toEqual([['PING'], ['set', 'k', 'a bA\n', "it's"], ['GET', 'k']]);
  });

  it('parses many pipelined commands delivered in one chunk', () => {
    const chunk = Buffer.concat([
      ...Array.from({ length: 100 }, (_, i) => multibulk('SET', `k${i}`, `v${i}`)),
      Buffer.from('PING\r\n'),
    ]);
    const { cmds } = parseAll([chunk]);
    expect(cmds.length).toBe(101);
    expect(cmds[57]).toEqual(['SET', 'k57', 'v57']);
    expect(cmds[100]).toEqual(['PING']);
  });

  it('parses byte-at-a-time delivery', () => {
    const stream = Buffer.concat([multibulk('SET', 'k', 'x'.repeat(300)), Buffer.from('ECHO hi\r\n'), multibulk('GET', 'k')]);
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(parseAll(chunks).cmds).toEqual([['SET', 'k', 'x'.repeat(300)], ['ECHO', 'hi'], ['GET', 'k']]);
  });

  it('skips empty multibulk and empty inline commands as Redis does', () => {
    expect(parseAll([Buffer.from('*0\r\n*-1\r\n\r\n \r\nPING\r\n')]).cmds).toEqual([['PING']]);
  });

  it('hands out bulk arguments as zero-copy views when they sit in one chunk', () => {
    const chunk = multibulk('SET', 'k', 'value');
    const p = new RespParser();
    p.feed(chunk);
    const cmd = p.next()!;
    expect(cmd[2]!.buffer).toBe(chunk.buffer);
  });

  it.each([
    ['*abc\r\n', 'Protocol error: invalid multibulk length'],
    ['*2000000\r\n', 'Protocol error: invalid multibulk length'],
    ['*01\r\n', 'Protocol error: invalid multibulk length'],
    ['*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n$x\r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n+OK\r\n', "Protocol error: expected '$', got '+'"],
    ['*1\r\n$3\r\nabcXY', "Protocol error: expected '\\r\\n' after bulk data"],
    ['SET "unterminated\r\n', 'Protocol error: unbalanced quotes in request'],
    ['SET "a"b\r\n', 'Protocol error: unbalanced quotes in request'],
  ])('rejects %j with Redis wording', (input, message) => {
    const { err } = parseAll([Buffer.from(input)]);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err!.message).toBe(message);
    expect(err!.code).toBe('PROTOCOL_ERROR');
  });

  it('enforces the bulk length limit from the header, before the body arrives', () => {
    const { err } = parseAll([Buffer.from('*2\r\n$3\r\nSET\r\n$1025\r\n')], { maxBulkBytes: 1024 });
    expect(err?.message).toBe('Protocol error: invalid bulk length');
    expect(parseAll([multibulk('SET', 'x'.repeat(1024))], { maxBulkBytes: 1024 }).err).toBeNull();
    // The default is Redis's 512 MiB.
    expect(parseAll([Buffer.from(`*1\r\n$${512 * 1024 * 1024 + 1}\r\n`)]).err?.message).toBe(
      'Protocol error: invalid bulk length',
    );
    expect(parseAll([Buffer.from(`*1\r\n$${512 * 1024 * 1024}\r\n`)]).err).toBeNull();
  });

  it('enforces the multibulk count and inline line limits', () => {
    expect(parseAll([Buffer.from('*11\r\n')], { maxMultibulkCount: 10 }).err?.message).toBe(
      'Protocol error: invalid multibulk length',
    );
    const long = Buffer.alloc(2000, 'a'.charCodeAt(0));
    expect(parseAll([long], { maxInlineBytes: 1024 }).err?.message).toBe('Protocol error: too big inline request');
    // Split into small chunks: the limit still fires without waiting for a newline.
    const chunks = Array.from({ length: 20 }, (_, i) => long.subarray(i * 100, i * 100 + 100));
    expect(parseAll(chunks, { maxInlineBytes: 1024 }).err?.message).toBe('Protocol error: too big inline request');
    expect(parseAll([Buffer.from(`*${'1'.repeat(2000)}`)], { maxInlineBytes: 1024 }).err?.message).toBe(
      'Protocol error: too big mbulk count string',
    );
  });

  it('stays failed after a protocol error', () => {
    const p = new RespParser();
    p.feed(Buffer.from('*x\r\n'));
    expect(() => p.next()).toThrow(ProtocolError);
    p.feed(Buffer.from('PING\r\n'));
    expect(() => p.next()).toThrow(ProtocolError);
  });

  it('is linear for a large bulk arriving in many chunks (one join)', () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const stream = multibulk('SET', 'k', big);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 1024) chunks.push(stream.subarray(i, i + 1024));
    const p = new RespParser();
    let cmd: Buffer[] | null = null;
    for (const c of chunks) {
      p.feed(c);
      cmd = p.next() ?? cmd;
    }
    expect(cmd![2]!.equals(big)).toBe(true);
    expect(p.bufferedBytes).toBe(0);
  });

  it('yields the same commands whatever the chunk boundaries (property)', () => {
    const arg = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
    fc.assert(
      fc.property(
        fc.array(fc.array(arg, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (cmds, cuts) => {
          const stream = Buffer.concat(cmds.map((c) => multibulk(...c)));
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const pt of points) {
            chunks.push(stream.subarray(prev, pt));
            prev = pt;
          }
          chunks.push(stream.subarray(prev));
          const { cmds: out, err } = parseAll(chunks);
          expect(err).toBeNull();
          expect(out).toEqual(cmds.map((c) => c.map((a) => a.toString('latin1'))));
        },
      ),
      { numRuns: 500 },
    );
  });

  // Fuzz: random bytes, RESP-looking token soup, and valid pipelines truncated/corrupted, split
  // at random points. Outcome must be commands, needs-more (null) or a ProtocolError; bounded work.
  it('fuzz: random and truncated input never crashes or hangs', () => {
    const token = fc.constantFrom('*', '$', '\r\n', '\n', '\r', '-1', '0', '3', '99999999999', 'abc', ' ', '"', "'", '\\x4', 'PING');
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
      fc.array(token, { maxLength: 60 }).map((t) => Buffer.from(t.join(''))),
      fc
        .tuple(
          fc.array(fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
          fc.nat(),
          fc.nat(255),
        )
        .map(([cmds, cut, flip]) => {
          const b = Buffer.concat(cmds.map((c) => multibulk(...c.map((x) => Buffer.from(x)))));
          if (flip % 3 === 0) b[flip % b.length] ^= flip || 1;
          return b.subarray(0, cut % (b.length + 1));
        }),
    );
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const pt of points) {
          chunks.push(bytes.subarray(prev, pt));
          prev = pt;
        }
        chunks.push(bytes.subarray(prev));
        const p = new RespParser({ maxBulkBytes: 1000, maxMultibulkCount: 1000, maxInlineBytes: 1000 });
        let commands = 0;
        try {
          for (const c of chunks) {
            p.feed(c);
            for (let cmd = p.next(); cmd !== null; cmd = p.next()) {
              expect(cmd.length).toBeGreaterThan(0);
              commands++;
              expect(commands).toBeLessThanOrEqual(bytes.length); // every command consumes input
            }
          }
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
          expect((e as ProtocolError).message).toMatch(/^Protocol error: /);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('splitInlineArgs', () => {
  it('handles escapes and reports unbalanced quotes as null', () => {
    expect(splitInlineArgs(Buffer.from('a "b\\tc" \'d\''))?.map(String)).toEqual(['a', 'b\tc', 'd']);
    expect(splitInlineArgs(Buffer.from('"x'))).toBeNull();
    expect(splitInlineArgs(Buffer.from("'x"))).toBeNull();
    expect(splitInlineArgs(Buffer.from('   '))).toEqual([]);
  });
});

describe('reply encoding', () => {
  it('encodes every reply type as RESP2', () => {
    expect(encodeReply(OK).toString()).toBe('+OK\r\n');
    expect(encodeReply(simple('PONG')).toString()).toBe('+PONG\r\n');
    expect(encodeReply(error('ERR bad\r\nthing')).toString()).toBe('-ERR bad thing\r\n');
    expect(encodeReply(int(-42)).toString()).toBe(':-42\r\n');
    expect(encodeReply(int(18446744073709551615n)).toString()).toBe(':18446744073709551615\r\n');
    expect(encodeReply(bulk('héllo')).toString()).toBe('$6\r\nhéllo\r\n');
    expect(encodeReply(bulk(Buffer.from([0, 13, 10]))).equals(Buffer.from('$3\r\n\x00\r\n\r\n', 'latin1'))).toBe(true);
    expect(encodeReply(NIL).toString()).toBe('$-1\r\n');
    expect(encodeReply(NIL_ARRAY).toString()).toBe('*-1\r\n');
    expect(encodeReply(array([])).toString()).toBe('*0\r\n');
    expect(encodeReply(array([int(1), array([bulk('a'), NIL]), simple('x')])).toString()).toBe(
      '*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n',
    );
  });

  it('encodes a pipelined batch into one buffer', () => {
    const buf = encodeReplies([OK, int(1), bulk('v')]);
    expect(buf.toString()).toBe('+OK\r\n:1\r\n$1\r\nv\r\n');
  });

  it('maps typed errors to Redis error replies that carry the code (SPEC C-6)', () => {
    expect(errorReply(new ProposalError('ENVELOPE_CUTOVER_IN_PROGRESS', 'raft cutover in progress'))).toEqual(
      error('TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS raft cutover in progress'),
    );
    expect(errorReply(new ProposalError('WRITER_NOT_REGISTERED', 'w'))).toEqual(error('TRYAGAIN WRITER_NOT_REGISTERED w'));
    // Issue 9 defect 8: an unknown outcome is never a retryable -TRYAGAIN; NOT_LEADER stays -ERR.
    expect(errorReply(new ProposalError('UNKNOWN_OUTCOME', 'may or may not commit'))).toEqual(error('ERR UNKNOWN_OUTCOME may or may not commit'));
    expect(errorReply(new ProposalError('NOT_LEADER', 'this node is not the leader'))).toEqual(error('ERR NOT_LEADER this node is not the leader'));
    expect(errorReply(new SealkvError('ENCRYPTED_READ_INTEGRITY', 'value failed authentication'))).toEqual(
      error('ERR ENCRYPTED_READ_INTEGRITY value failed authentication'),
    );
    expect(errorReply(new ProtocolError('PROTOCOL_ERROR', 'Protocol error: invalid bulk length'))).toEqual(
      error('ERR Protocol error: invalid bulk length'),
    );
    expect(errorReply(new Error('secret internals'))).toEqual(error('ERR internal error'));
  });
});
