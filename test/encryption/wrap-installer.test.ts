// The apply-time wrap installer (SPEC WI-1..WI-6) driven through the entry executor: the raft
// marker's branches, the rotation under an active cutover, and the order sidecar → installer.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keystore } from '../../src/crypto/keystore.js';
import { EntryExecutor } from '../../src/encryption/entry-executor.js';
import { EncryptionStateCell } from '../../src/encryption/state-cell.js';
import { WrapInstaller } from '../../src/encryption/wrap-installer.js';
import { HaltError } from '../../src/errors.js';
import { generateDek } from '../../src/keys/dek-wrap.js';
import { encodeBootstrap, encodeRotation, SUBTAG_ENABLE_RAFT_ENVELOPE, SUBTAG_ROTATE_DEK } from '../../src/keys/encryption-entries.js';
import { Kek } from '../../src/keys/kek-provider.js';
import { emptySidecar } from '../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../src/keys/sidecar-store.js';
import type { WrapFn } from '../../src/node/proposer.js';
import { MemoryKv } from '../../src/node/fsm/memory-kv.js';

const A = 12;
const B = 13;

function setup() {
  const kek = Kek.fromBytes('env', new Uint8Array(32).fill(9));
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-wi-'));
  const store = SidecarStore.open(dir);
  const state = new EncryptionStateCell(emptySidecar());
  const keystore = new Keystore();
  const ex = new EntryExecutor({ kek, sidecar: store, state, keystore, pinned: { storage: 0, raft: 0 }, now: () => '2026-01-01T00:00:00.000Z' });
  const calls: [bigint, number][] = [];
  let fail: Error | null = null;
  ex.setInstaller((c, d) => {
    calls.push([c, d]);
    if (fail) throw fail;
  });
  const registry = new MemoryKv();
  const step = async (payload: Uint8Array, index: bigint) => {
    const r = ex.apply(payload, index, registry);
    if ('halt' in r) throw r.halt;
    await ex.persist(index, r.effect!);
    ex.publish(index, r.effect!);
  };
  const marker = (dekId: number) =>
    encodeRotation({ subTag: SUBTAG_ENABLE_RAFT_ENVELOPE, dekId, purpose: 'raft', wrapped: new Uint8Array(0), proposer: { dekId, fullNodeId: 77n, localEpoch: 0 } });
  const rotateRaft = (dekId: number) =>
    encodeRotation({ subTag: SUBTAG_ROTATE_DEK, dekId, purpose: 'raft', wrapped: kek.wrapSync(generateDek()), proposer: { dekId, fullNodeId: 77n, localEpoch: 0 } });
  const bootstrap = () =>
    encodeBootstrap({
      storageDekId: 11,
      storageWrapped: kek.wrapSync(generateDek()),
      raftDekId: A,
      raftWrapped: kek.wrapSync(generateDek()),
      batch: [
        { dekId: 11, fullNodeId: 77n, localEpoch: 0 },
        { dekId: A, fullNodeId: 77n, localEpoch: 0 },
      ],
    });
  return {
    ex,
    state,
    store,
    calls,
    step,
    marker,
    rotateRaft,
    bootstrap,
    failWith: (e: Error | null) => {
      fail = e;
    },
  };
}

describe('WrapInstaller', () => {
  it('WI-1/WI-5: publishes the wrap before it stores the cutover; idempotent for the same (cutover, DEK)', () => {
    const order: string[] = [];
    const built: number[] = [];
    const wi = new WrapInstaller({
      buildWrap: (d) => {
        built.push(d);
        return (async (p) => p) as WrapFn;
      },
      publishWrap: () => order.push('wrap'),
      setCutover: (i) => order.push(`cutover ${i}`),
    });
    wi.install(100n, A);
    wi.install(100n, A);
    expect(order).toEqual(['wrap', 'cutover 100']);
    wi.install(100n, B); // WI-4: a rotation replaces the wrap
    expect(built).toEqual([A, B]);
    expect(wi.current()).toEqual({ cutover: 100n, dekId: B });
  });
});

describe('raft cutover apply → installer (WI-2)', () => {
  it('WI-2 fresh: the marker sets the sidecar cutover, then calls the installer with (index, active.raft)', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    await h.step(h.marker(A), 20n);
    expect(h.calls).toEqual([[20n, A]]);
    expect((await h.store.read())?.raftEnvelopeCutoverIndex).toBe(20n);
  });

  it('WI-2 stale DEK: a marker naming a DEK other than active.raft is consumed and the installer is not called', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    await h.step(h.marker(B), 20n);
    expect(h.calls).toEqual([]);
    const s = await h.store.read();
    expect(s?.raftEnvelopeCutoverIndex).toBe(0n);
    expect(s?.raftAppliedIndex).toBe(20n);
  });

  it('WI-2 already active: a second marker keeps the original cutover and still calls the installer', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    await h.step(h.marker(A), 20n);
    await h.step(h.marker(A), 30n);
    expect(h.calls).toEqual([
      [20n, A],
      [20n, A],
    ]);
    const s = await h.store.read();
    expect(s?.raftEnvelopeCutoverIndex).toBe(20n);
    expect(s?.raftAppliedIndex).toBe(30n);
  });

  it('WI-2 index zero: the marker at index 0 HALTs (APPLY_INDEX_ZERO) and no installer runs', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    const e = await h.step(h.marker(A), 0n).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ENCRYPTION_APPLY', reason: 'APPLY_INDEX_ZERO' });
    expect(h.calls).toEqual([]);
  });

  it('WI-3/WI-4: cutover 500 with A, raft rotation to B at 600, marker A at 700 → the apply at 700 calls the installer once with (500, B)', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    await h.step(h.marker(A), 500n);
    await h.step(h.rotateRaft(B), 600n);
    // WI-4: the rotation under the active cutover re-installs with the new DEK.
    expect(h.calls).toEqual([
      [500n, A],
      [500n, B],
    ]);
    h.calls.length = 0;
    await h.step(h.marker(A), 700n);
    expect(h.calls).toEqual([[500n, B]]);
    expect((await h.store.read())?.raftEnvelopeCutoverIndex).toBe(500n);
  });

  it('WI-5/WI-6: an installer error HALTs the marker with INSTALLER_FAILED naming the branch, the sidecar already showing the cutover', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    h.failWith(new Error('nonce factory not wired'));
    const e = await h.step(h.marker(A), 20n).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HaltError);
    expect(e).toMatchObject({ code: 'ENCRYPTION_APPLY', reason: 'INSTALLER_FAILED', index: 20n });
    expect((e as Error).message).toContain('fresh cutover');
    expect((await h.store.read())?.raftEnvelopeCutoverIndex).toBe(20n);
    // The restart's replay takes the already-active branch and converges.
    h.failWith(null);
    const h2 = h;
    h2.state.publish((await h.store.read())!);
    await h2.step(h.marker(A), 20n);
    expect(h2.calls.at(-1)).toEqual([20n, A]);
  });

  it('WI-6: with no installer wired, a cutover apply HALTs with INSTALLER_FAILED', async () => {
    const h = setup();
    await h.step(h.bootstrap(), 5n);
    h.ex.setInstaller(null);
    const e = await h.step(h.marker(A), 20n).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ENCRYPTION_APPLY', reason: 'INSTALLER_FAILED' });
  });
});
