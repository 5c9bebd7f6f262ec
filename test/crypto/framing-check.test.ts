// Issue 10 Step 0: one pure RE-6 framing check, used by parseEnvelope and by the pool executor.
import { describe, expect, it } from 'vitest';
import { checkEnvelopeFraming, ENVELOPE_OVERHEAD, parseEnvelope } from '../../src/crypto/envelope/framing.js';

function env(len: number, version = 1, flag = 0): Uint8Array {
  const b = new Uint8Array(len);
  if (len > 0) b[0] = version;
  if (len > 1) b[1] = flag;
  return b;
}

describe('RE-6 framing check (one implementation)', () => {
  it('RE-6: checks run in order SHORT, VERSION, FLAG; at an offset inside a larger buffer', () => {
    expect(checkEnvelopeFraming(env(ENVELOPE_OVERHEAD - 1, 9, 9), 0, ENVELOPE_OVERHEAD - 1)).toBe('ENVELOPE_SHORT');
    expect(checkEnvelopeFraming(env(ENVELOPE_OVERHEAD, 2, 9), 0, ENVELOPE_OVERHEAD)).toBe('ENVELOPE_VERSION');
    expect(checkEnvelopeFraming(env(ENVELOPE_OVERHEAD, 1, 1), 0, ENVELOPE_OVERHEAD)).toBe('ENVELOPE_FLAG');
    expect(checkEnvelopeFraming(env(ENVELOPE_OVERHEAD), 0, ENVELOPE_OVERHEAD)).toBeNull();
    const big = new Uint8Array(100);
    big.set(env(ENVELOPE_OVERHEAD), 50);
    expect(checkEnvelopeFraming(big, 50, ENVELOPE_OVERHEAD)).toBeNull();
    expect(checkEnvelopeFraming(big, 49, ENVELOPE_OVERHEAD)).toBe('ENVELOPE_VERSION');
  });

  it('RE-6: parseEnvelope throws the code the shared check returns', () => {
    for (const [b, code] of [
      [env(3), 'ENVELOPE_SHORT'],
      [env(40, 7), 'ENVELOPE_VERSION'],
      [env(40, 1, 0x80), 'ENVELOPE_FLAG'],
    ] as const) {
      expect(() => parseEnvelope(b, 'test')).toThrow(expect.objectContaining({ code: code }));
      expect(checkEnvelopeFraming(b, 0, b.length)).toBe(code);
    }
  });
});
