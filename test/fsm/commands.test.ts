// The RESP command table: classification and Redis's exact error texts.
import { describe, expect, it } from 'vitest';
import { commandNames } from '../../src/server/commands.js';
import { Node, plain } from './harness.js';

const run = (n: Node, ...a: string[]) => plain(n.run(...a));

describe('classification', () => {
  it('writes go through Raft, reads through ReadIndex, the rest is local', () => {
    const n = new Node();
    const kinds = (args: string[]) => n.classify(...args).kind;
    for (const w of [
      ['SET', 'k', 'v'],
      ['SETNX', 'k', 'v'],
      ['GETSET', 'k', 'v'],
      ['DEL', 'k'],
      ['MSET', 'k', 'v'],
      ['INCR', 'k'],
      ['INCRBY', 'k', '2'],
      ['DECR', 'k'],
      ['DECRBY', 'k', '2'],
      ['APPEND', 'k', 'v'],
      ['EXPIRE', 'k', '1'],
      ['PEXPIRE', 'k', '1'],
      ['PERSIST', 'k'],
    ]) {
      expect(kinds(w), w.join(' ')).toBe('write');
    }
    for (const r of [['GET', 'k'], ['MGET', 'k'], ['EXISTS', 'k'], ['STRLEN', 'k'], ['TTL', 'k'], ['PTTL', 'k'], ['SCAN', '0'], ['DBSIZE']]) {
      expect(kinds(r), r.join(' ')).toBe('read');
    }
    for (const l of [['PING'], ['ECHO', 'x'], ['HELLO'], ['SELECT', '0'], ['INFO'], ['COMMAND'], ['CONFIG', 'GET', '*'], ['CLIENT', 'GETNAME'], ['QUIT']]) {
      expect(kinds(l), l.join(' ')).toBe('local');
    }
  });

  it('command names are case-insensitive', () => {
    const n = new Node();
    expect(run(n, 'sEt', 'k', 'v')).toBe('OK');
    expect(run(n, 'get', 'k')).toBe('v');
  });

  it('every DESIGN.md §4 command is in the table', () => {
    const names = commandNames();
    for (const c of 'ping echo hello select get set setnx getset del exists mget mset incr incrby decr decrby append strlen expire pexpire ttl pttl persist scan dbsize info command config client quit'.split(' ')) {
      expect(names).toContain(c);
    }
  });
});

describe('error texts', () => {
  it('wrong arity names the command in lowercase', () => {
    const n = new Node();
    expect(run(n, 'GET')).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
    expect(run(n, 'GET', 'a', 'b')).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
    expect(run(n, 'INCR')).toEqual({ error: "ERR wrong number of arguments for 'incr' command" });
    expect(run(n, 'DEL')).toEqual({ error: "ERR wrong number of arguments for 'del' command" });
    expect(run(n, 'DBSIZE', 'x')).toEqual({ error: "ERR wrong number of arguments for 'dbsize' command" });
    expect(run(n, 'PING', 'a', 'b')).toEqual({ error: "ERR wrong number of arguments for 'ping' command" });
  });

  it('unknown command quotes its args', () => {
    const n = new Node();
    expect(run(n, 'foo')).toEqual({ error: "ERR unknown command 'foo', with args beginning with: " });
    expect(run(n, 'FOO', 'a', 'b c')).toEqual({
      error: "ERR unknown command 'FOO', with args beginning with: 'a' 'b c' ",
    });
  });

  it('SELECT accepts only 0', () => {
    const n = new Node();
    expect(run(n, 'SELECT', '0')).toBe('OK');
    expect(run(n, 'SELECT', '1')).toEqual({ error: 'ERR DB index is out of range' });
    expect(run(n, 'SELECT', '-1')).toEqual({ error: 'ERR DB index is out of range' });
    expect(run(n, 'SELECT', 'x')).toEqual({ error: 'ERR value is not an integer or out of range' });
  });
});

describe('connection commands', () => {
  it('PING and ECHO', () => {
    const n = new Node();
    expect(run(n, 'PING')).toBe('PONG');
    expect(n.run('PING')).toEqual({ t: 'simple', v: 'PONG' });
    expect(run(n, 'PING', 'hi')).toBe('hi');
    expect(run(n, 'ECHO', 'x y')).toBe('x y');
  });

  it('HELLO answers server info; HELLO 3 switches the session to RESP3 (issue 12), HELLO 4 is NOPROTO', () => {
    const n = new Node();
    const r = run(n, 'HELLO') as unknown[];
    expect(r.slice(0, 6)).toEqual(['server', 'redis', 'version', '7.0.0', 'proto', 2]);
    expect(run(n, 'HELLO', '2', 'SETNAME', 'me')).toBeInstanceOf(Array);
    expect(run(n, 'CLIENT', 'GETNAME')).toBe('me');
    expect((run(n, 'HELLO', '3') as unknown[]).slice(4, 6)).toEqual(['proto', 3]);
    expect(n.session.protocol).toBe(3);
    expect(run(n, 'HELLO', '4')).toEqual({ error: 'NOPROTO unsupported protocol version' });
    expect(run(n, 'HELLO', 'x')).toEqual({ error: 'ERR Protocol version is not an integer or out of range' });
  });

  it('CLIENT SETNAME / GETNAME', () => {
    const n = new Node();
    expect(run(n, 'CLIENT', 'GETNAME')).toBeNull();
    expect(run(n, 'CLIENT', 'SETNAME', 'worker-1')).toBe('OK');
    expect(run(n, 'CLIENT', 'GETNAME')).toBe('worker-1');
    expect(run(n, 'CLIENT', 'SETNAME', 'a b')).toEqual({
      error: 'ERR Client names cannot contain spaces, newlines or special characters.',
    });
    expect(run(n, 'CLIENT', 'SETNAME', '')).toBe('OK');
    expect(run(n, 'CLIENT', 'GETNAME')).toBeNull();
    expect(run(n, 'CLIENT', 'NOPE')).toEqual({ error: "ERR unknown subcommand 'NOPE'. Try CLIENT HELP." });
    expect(run(n, 'CLIENT', 'SETNAME')).toEqual({
      error: "ERR wrong number of arguments for 'client|setname' command",
    });
  });

  it('COMMAND, CONFIG GET, INFO answer something harmless', () => {
    const n = new Node();
    expect(run(n, 'COMMAND')).toEqual([]);
    expect(run(n, 'COMMAND', 'DOCS')).toEqual([]);
    expect(run(n, 'COMMAND', 'COUNT')).toBe(commandNames().length);
    expect(run(n, 'CONFIG', 'GET', 'save')).toEqual([]);
    expect(run(n, 'CONFIG', 'GET')).toEqual({ error: "ERR wrong number of arguments for 'config|get' command" });
    expect(run(n, 'CONFIG', 'SET', 'a', 'b')).toEqual({ error: "ERR unknown subcommand 'SET'. Try CONFIG HELP." });
    expect(String(run(n, 'INFO'))).toContain('redis_version:');
  });

  it('QUIT answers OK and asks to close', () => {
    const n = new Node();
    const c = n.classify('QUIT');
    expect(c).toEqual({ kind: 'local', reply: { t: 'simple', v: 'OK' }, close: true });
  });
});
