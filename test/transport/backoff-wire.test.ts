import { describe, expect, it } from 'vitest';
import { EnvelopeError, HaltError, ProposalError, SealkvError, TransportError } from '../../src/errors.js';
import { Backoff } from '../../src/transport/backoff.js';
import { Fifo } from '../../src/transport/fifo.js';
import { fromWireError, parseWireFrame, resErrFrame, toWireError } from '../../src/transport/wire.js';

describe('Backoff', () => {
  it('doubles its ceiling from min to max with jitter in [ceiling/2, ceiling], and resets', () => {
    const lo = new Backoff({ minMs: 50, maxMs: 2000 }, () => 0);
    const hi = new Backoff({ minMs: 50, maxMs: 2000 }, () => 1);
    const los = Array.from({ length: 8 }, () => lo.next());
    const his = Array.from({ length: 8 }, () => hi.next());
    expect(his).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
    expect(los).toEqual([25, 50, 100, 200, 400, 800, 1000, 1000]);
    hi.reset();
    expect(hi.next()).toBe(50);
  });
});

describe('Fifo', () => {
  it('keeps order across compaction', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 3000; i++) expect(q.shift()).toBe(i);
    for (let i = 5000; i < 6000; i++) q.push(i);
    expect(q.length).toBe(3000);
    expect(q.peek()).toBe(3000);
    expect(q.drain()).toEqual(Array.from({ length: 3000 }, (_, i) => i + 3000));
    expect(q.shift()).toBeUndefined();
  });
});

describe('wire errors', () => {
  const roundTrip = (e: unknown): SealkvError => {
    const frame = parseWireFrame(resErrFrame(7, toWireError(e)));
    if (frame.kind !== 3) throw new Error('expected an error response');
    return fromWireError(frame.error);
  };

  it('keeps class, code, message, reason and the leader hint across the wire', () => {
    const p = roundTrip(new ProposalError('NOT_LEADER', 'not leader', { leader: 'n2' }));
    expect(p).toBeInstanceOf(ProposalError);
    expect(p).toMatchObject({ code: 'NOT_LEADER', message: 'not leader', leader: 'n2' });
    const h = roundTrip(new HaltError('ENCRYPTION_APPLY', 'halted at 5', { reason: 'INVALID_PAYLOAD' }));
    expect(h).toBeInstanceOf(HaltError);
    expect(h).toMatchObject({ code: 'ENCRYPTION_APPLY', reason: 'INVALID_PAYLOAD' });
    expect(roundTrip(new EnvelopeError('ENVELOPE_SHORT', 'short'))).toBeInstanceOf(EnvelopeError);
    const generic = roundTrip(new SealkvError('SOMETHING', 'x'));
    expect(generic.code).toBe('SOMETHING');
    expect(roundTrip(new Error('boom')).code).toBe('INTERNAL');
  });

  it('rejects frames of the wrong shape with FRAME_MALFORMED', () => {
    for (const bad of [null, 5, [], [0], [0, 1, 2], [1, 0, 'x'], [1, 1.5, 'x'], [3, 1, ['a']], [9, 1, 'c'], [42, 1]]) {
      expect(() => parseWireFrame(bad)).toThrow(TransportError);
    }
  });
});
