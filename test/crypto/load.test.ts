// DESIGN §4 loadAead: one interface, typed BACKEND_UNAVAILABLE with a reason, cached loads.

import { describe, expect, it } from 'vitest';
import { type BackendName, BACKENDS, loadAead, loadAeadWithFallback } from '../../src/crypto/index.js';
import { CryptoError } from '../../src/errors.js';
import { loadBackends } from './helpers/backends.js';

describe('loadAead (DESIGN §4, CK-4)', () => {
  it('CK-4 js and node always load, under their own names; js reports hardwareAes false', async () => {
    const js = await loadAead('js');
    const node = await loadAead('node');
    expect(js.name).toBe('js');
    expect(js.hardwareAes).toBe(false);
    expect(node.name).toBe('node');
    expect(await loadAead('js')).toBe(js);
  });

  it('CK-4 an unknown backend name fails with BACKEND_UNAVAILABLE and a reason', async () => {
    const err = await loadAead('rot13' as BackendName).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CryptoError);
    expect((err as CryptoError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as CryptoError).message).toContain('rot13');
  });

  it('CK-4 every backend either loads or reports BACKEND_UNAVAILABLE with a reason (never another error)', async () => {
    const slots = await loadBackends();
    for (const name of BACKENDS) {
      const s = slots.get(name)!;
      expect('error' in s ? `${name}: ${String((s as { error: unknown }).error)}` : 'ok').toBe('ok');
      if ('unavailable' in s) expect(s.unavailable.length).toBeGreaterThan(20);
      if ('aead' in s) expect(s.aead.name).toBe(name);
    }
  });

  it('CK-4 loadAeadWithFallback keeps a loadable preference and gives no warning', async () => {
    const r = await loadAeadWithFallback('js');
    expect(r.aead.name).toBe('js');
    expect(r.warning).toBeUndefined();
  });
});
