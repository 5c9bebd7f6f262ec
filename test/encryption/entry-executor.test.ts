// The encryption-entry executor: decisions in apply (registry rows into the batch, the rest an
// effect value), then persist in the contract's order (keys, then the KM-7 sidecar write), and a
// failure is a HALT of that entry — never a half-applied state.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keystore } from '../../src/crypto/keystore.js';
import { EntryExecutor } from '../../src/encryption/entry-executor.js';
import { EncryptionStateCell } from '../../src/encryption/state-cell.js';
import { HaltError } from '../../src/errors.js';
import { generateDek } from '../../src/keys/dek-wrap.js';
import { encodeBootstrap } from '../../src/keys/encryption-entries.js';
import { Kek } from '../../src/keys/kek-provider.js';
import { emptySidecar } from '../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../src/keys/sidecar-store.js';
import { MemoryKv } from '../../src/node/fsm/memory-kv.js';

function setup(opts: { failWrite?: boolean } = {}) {
  const kek = Kek.fromBytes('env', new Uint8Array(32).fill(9));
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-exec-'));
  const store = SidecarStore.open(dir);
  const state = new EncryptionStateCell(emptySidecar());
  const keystore = new Keystore();
  const writes: string[] = [];
  const sidecar = {
    write: async (s: Parameters<SidecarStore['write']>[0]) => {
      writes.push(`sidecar storage=${s.active.storage}`);
      if (opts.failWrite) throw new Error('fsync of the directory failed');
      await store.write(s);
    },
  } as unknown as SidecarStore;
  const ex = new EntryExecutor({ kek, sidecar, state, keystore, pinned: { storage: 0, raft: 0 }, now: () => '2026-01-01T00:00:00.000Z' });
  const bootstrap = () => {
    const s = generateDek();
    const r = generateDek();
    return {
      payload: encodeBootstrap({
        storageDekId: 11,
        storageWrapped: kek.wrapSync(s),
        raftDekId: 12,
        raftWrapped: kek.wrapSync(r),
        batch: [
          { dekId: 11, fullNodeId: 77n, localEpoch: 0 },
          { dekId: 12, fullNodeId: 77n, localEpoch: 0 },
        ],
      }),
      s,
    };
  };
  return { ex, state, keystore, writes, store, bootstrap };
}

describe('EntryExecutor', () => {
  it('RO-4: bootstrap puts its registry rows in the batch and returns the effect; persist installs keys then writes the sidecar; publish updates the cell', async () => {
    const h = setup();
    const registry = new MemoryKv();
    const { payload, s } = h.bootstrap();
    const r = h.ex.apply(payload, 5n, registry);
    if ('halt' in r) throw r.halt;
    expect(registry.size).toBe(2);
    expect(h.keystore.size).toBe(0); // nothing outside the batch before persist
    expect(h.state.sidecar()!.active.storage).toBe(0);
    await h.ex.persist(5n, r.effect!);
    expect(h.keystore.exportKey(11)).toEqual(s);
    expect(h.writes).toEqual(['sidecar storage=11']);
    expect((await h.store.read())?.raftAppliedIndex).toBe(5n);
    expect(h.state.sidecar()!.active.storage).toBe(0); // published only by publish()
    h.ex.publish(5n, r.effect!);
    expect(h.state.sidecar()!.active).toEqual({ storage: 11, raft: 12 });
  });

  it('KM-7: a failed sidecar write is a HALT of the entry (reason: the store error\'s code, SIDECAR_IO for an untyped one), the state cell unchanged', async () => {
    const h = setup({ failWrite: true });
    const r = h.ex.apply(h.bootstrap().payload, 5n, new MemoryKv());
    if ('halt' in r) throw r.halt;
    const e = await h.ex.persist(5n, r.effect!).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HaltError);
    expect(e).toMatchObject({ code: 'ENCRYPTION_APPLY', reason: 'SIDECAR_IO', index: 5n });
    expect(h.state.sidecar()!.active.storage).toBe(0);
  });

  it('AS-5: a bootstrap entry with one trailing byte HALTs in apply (FSM_WIRE_MALFORMED), nothing written to the batch', () => {
    const h = setup();
    const registry = new MemoryKv();
    const p = h.bootstrap().payload;
    const bad = new Uint8Array(p.length + 1);
    bad.set(p);
    const r = h.ex.apply(bad, 9n, registry);
    expect('halt' in r && r.halt).toMatchObject({ code: 'ENCRYPTION_APPLY', reason: 'FSM_WIRE_MALFORMED', index: 9n });
    expect(registry.size).toBe(0);
  });
});
