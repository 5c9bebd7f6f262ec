// The few RESP2 pieces the load generator needs: encode a command, and split a reply stream into
// whole replies, telling errors (with their prefix) from everything else. It never builds reply
// values — the generator only counts and times replies, so parsing stays cheap at high rates.

/** A command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One complete top-level reply: `error` is the error prefix ("TRYAGAIN", "ERR", …) or null. */
export interface ReplyEvent {
  error: string | null;
}

export class RespProtocolError extends Error {
  readonly code = 'BENCH_RESP_PROTOCOL';
}

/**
 * Incremental reply splitter. feed() takes any chunking of the byte stream and returns the
 * top-level replies completed by it, in order.
 */
export class ReplySplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** Elements still owed by each open array, innermost last. */
  private readonly pending: number[] = [];
  /** Error prefix of the top-level reply being read, if it is an error. */
  private topError: string | null = null;

  feed(chunk: Buffer): ReplyEvent[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: ReplyEvent[] = [];
    let pos = 0;
    for (;;) {
      const eol = this.buf.indexOf('\r\n', pos);
      if (eol < 0) break;
      const type = this.buf[pos];
      const line = this.buf.toString('latin1', pos + 1, eol);
      let next = eol + 2;
      let completesValue = true;
      if (type === 0x2b /* + */ || type === 0x3a /* : */) {
        // Complete as it stands.
      } else if (type === 0x2d /* - */) {
        if (this.pending.length === 0) this.topError = prefixOf(line);
      } else if (type === 0x24 /* $ */) {
        const n = Number(line);
        if (!Number.isInteger(n) || n < -1) throw new RespProtocolError(`bad bulk length '${line}'`);
        if (n >= 0) {
          if (this.buf.length < next + n + 2) break; // the bulk body has not all arrived
          next += n + 2;
        }
      } else if (type === 0x2a /* * */) {
        const n = Number(line);
        if (!Number.isInteger(n) || n < -1) throw new RespProtocolError(`bad array length '${line}'`);
        if (n > 0) {
          this.pending.push(n);
          completesValue = false;
        }
      } else {
        throw new RespProtocolError(`unexpected reply type byte 0x${(type ?? 0).toString(16)}`);
      }
      pos = next;
      if (!completesValue) continue;
      // A finished value closes every array it was the last element of.
      while (this.pending.length > 0) {
        const top = this.pending.length - 1;
        this.pending[top]!--;
        if (this.pending[top]! > 0) break;
        this.pending.pop();
      }
      if (this.pending.length === 0) {
        out.push({ error: this.topError });
        this.topError = null;
      }
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
    return out;
  }
}

/** "TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS ..." → "TRYAGAIN". */
function prefixOf(line: string): string {
  const sp = line.indexOf(' ');
  const p = sp < 0 ? line : line.slice(0, sp);
  return p.length > 0 ? p : 'ERR';
}
