// Issue 12 item 1: HELLO 3 switches a connection to RESP3; HELLO 2 / no HELLO stay RESP2. Reply
// forms per Redis 7: maps for HELLO and CONFIG GET, verbatim strings for INFO and CLIENT INFO,
// `_` for nulls (nil bulk and nil EXEC alike).

import { describe, expect, it } from 'vitest';
import { array, bulk, encodeReplies, encodeReply, int, map, NIL, NIL_ARRAY, verbatim } from '../../src/server/resp-codec.js';
import { setup } from './tx-harness.js';

describe('RESP3 encoder', () => {
  it('maps, verbatim strings and nulls in RESP3; their RESP2 fallbacks', () => {
    const m = map([[bulk('a'), int(1)]]);
    expect(encodeReply(m, 3).toString()).toBe('%1\r\n$1\r\na\r\n:1\r\n');
    expect(encodeReply(m, 2).toString()).toBe('*2\r\n$1\r\na\r\n:1\r\n');
    expect(encodeReply(verbatim('x:1'), 3).toString()).toBe('=7\r\ntxt:x:1\r\n');
    expect(encodeReply(verbatim('x:1'), 2).toString()).toBe('$3\r\nx:1\r\n');
    expect(encodeReply(NIL, 3).toString()).toBe('_\r\n');
    expect(encodeReply(NIL_ARRAY, 3).toString()).toBe('_\r\n');
    expect(encodeReply(NIL, 2).toString()).toBe('$-1\r\n');
    expect(encodeReply(NIL_ARRAY, 2).toString()).toBe('*-1\r\n');
    expect(encodeReply(array([NIL, bulk('é')]), 3).toString()).toBe('*2\r\n_\r\n$2\r\né\r\n');
  });

  it('per-reply protocols in one batch (HELLO 3 switches from its own reply on)', () => {
    expect(encodeReplies([NIL, NIL], [2, 3]).toString()).toBe('$-1\r\n_\r\n');
  });
});

describe('HELLO (issue 12 item 1)', () => {
  it('no HELLO and HELLO 2 speak RESP2; HELLO 3 answers a map and switches; HELLO without version keeps it', async () => {
    const { conn } = setup();
    const a = conn();
    expect(await a.wire('GET', 'nope')).toBe('$-1\r\n');
    expect(await a.wire('HELLO', '2')).toMatch(/^\*14\r\n\$6\r\nserver\r\n/);
    expect(a.client.protocol).toBe(2);
    const hello3 = await a.wire('HELLO', '3');
    expect(hello3).toMatch(/^%7\r\n\$6\r\nserver\r\n/);
    expect(hello3).toContain('$5\r\nproto\r\n:3\r\n');
    expect(a.client.protocol).toBe(3);
    expect(await a.wire('GET', 'nope')).toBe('_\r\n');
    expect(await a.wire('HELLO')).toContain('$5\r\nproto\r\n:3\r\n');
    expect(a.client.protocol).toBe(3);
    expect(await a.wire('HELLO', '2')).toMatch(/^\*14\r\n/);
    expect(await a.wire('GET', 'nope')).toBe('$-1\r\n');
  });

  it('HELLO 4 / HELLO 1 are NOPROTO; a non-integer version is an error; AUTH and SETNAME are handled as Redis does', async () => {
    const { conn } = setup();
    const a = conn();
    expect(await a.wire('HELLO', '4')).toBe('-NOPROTO unsupported protocol version\r\n');
    expect(await a.wire('HELLO', '1')).toBe('-NOPROTO unsupported protocol version\r\n');
    expect(await a.wire('HELLO', 'x')).toBe('-ERR Protocol version is not an integer or out of range\r\n');
    expect(a.client.protocol).toBe(2);
    // The default user has no password (Redis without requirepass): AUTH with any password passes.
    expect(await a.wire('HELLO', '3', 'AUTH', 'default', 'pw', 'SETNAME', 'me')).toMatch(/^%7/);
    expect(a.client.name).toBe('me');
    expect(await a.wire('HELLO', '3', 'BOGUS')).toBe("-ERR Syntax error in HELLO option 'BOGUS'\r\n");
    expect(await a.wire('HELLO', '3', 'AUTH', 'alice', 'pw')).toBe('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
  });

  it('RESP3 reply forms: CONFIG GET map, INFO and CLIENT INFO verbatim, nil EXEC is _', async () => {
    const { conn } = setup();
    const a = conn();
    const b = conn();
    await a.run('HELLO', '3');
    expect(await a.wire('CONFIG', 'GET', 'maxmemory')).toBe('%0\r\n');
    expect(await a.wire('INFO')).toMatch(/^=\d+\r\ntxt:# Server/);
    await a.run('CLIENT', 'SETINFO', 'LIB-NAME', 'mylib');
    const info = await a.wire('CLIENT', 'INFO');
    expect(info).toMatch(/^=\d+\r\ntxt:id=\d+ addr=/);
    expect(info).toContain(' resp=3 lib-name=mylib ');
    await a.run('WATCH', 'k');
    await b.run('SET', 'k', '1');
    await a.run('MULTI');
    await a.run('SET', 'k', '2');
    expect(await a.wire('EXEC')).toBe('_\r\n');
    expect(await b.wire('INFO')).toMatch(/^\$\d+\r\n# Server/); // RESP2: a bulk string
    expect(await b.wire('CONFIG', 'GET', 'maxmemory')).toBe('*0\r\n');
  });
});

describe('connect-time commands (issue 12 item 3)', () => {
  it('CLIENT ID, CLIENT SETINFO (LIB-NAME / LIB-VER, validated), CLIENT INFO', async () => {
    const { conn } = setup();
    const a = conn();
    expect(await a.wire('CLIENT', 'ID')).toBe(`:${a.client.id}\r\n`);
    expect(await a.wire('CLIENT', 'SETINFO', 'LIB-VER', '5.1.0')).toBe('+OK\r\n');
    expect(await a.wire('CLIENT', 'SETINFO', 'lib-name', 'ioredis')).toBe('+OK\r\n');
    expect(await a.wire('CLIENT', 'SETINFO', 'color', 'x')).toBe("-ERR Unrecognized option 'color'\r\n");
    expect(await a.wire('CLIENT', 'SETINFO', 'LIB-NAME', 'a b')).toBe('-ERR lib-name cannot contain spaces, newlines or special characters.\r\n');
    expect(await a.wire('CLIENT', 'INFO')).toContain('lib-name=ioredis lib-ver=5.1.0\n');
  });
});
