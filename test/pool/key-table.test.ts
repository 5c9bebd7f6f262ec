// The shared DEK table of the crypto pool (CK-1 snapshot semantics, CK-2 once-only installs).
import { describe, expect, it } from 'vitest';
import { hasCode } from '../../src/errors.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { createKeyTableBuffer, KeyTableReader, KeyTableWriter } from '../../src/pool/key-table.js';

const dek = (b: number) => new Uint8Array(32).fill(b);

describe('pool key table', () => {
  it('a reader sees an install after refresh and keeps key identity across reloads', () => {
    const w = new KeyTableWriter(createKeyTableBuffer(4));
    const r = new KeyTableReader(w.buffer);
    r.refresh();
    expect(r.get(5)).toBeUndefined();
    w.install(5, dek(1));
    const v = r.refresh();
    expect(v).toBe(w.version);
    const k5 = r.get(5)!;
    expect([...k5]).toEqual([...dek(1)]);
    w.install(6, dek(2));
    r.refresh();
    // Unchanged DEK keeps its object, so per-key backend contexts are not rebuilt.
    expect(r.get(5)).toBe(k5);
    expect(r.loadedKeyIds()).toEqual([5, 6]);
  });

  it('CK-2: same bytes is a no-op, different bytes is KEY_CONFLICT, key_id 0 is RESERVED_KEY_ID', () => {
    const w = new KeyTableWriter(createKeyTableBuffer(4));
    w.install(9, dek(3));
    const v = w.version;
    w.install(9, dek(3));
    expect(w.version).toBe(v);
    expect(() => w.install(9, dek(4))).toThrow(expect.objectContaining({ code: 'KEY_CONFLICT' }));
    expect(() => w.install(0, dek(4))).toThrow(expect.objectContaining({ code: 'RESERVED_KEY_ID' }));
    try {
      w.install(10, new Uint8Array(16));
      expect.unreachable();
    } catch (e) {
      expect(hasCode(e, 'BAD_KEY_SIZE')).toBe(true);
    }
  });

  it('remove wipes the slot in shared memory and in the reader, and reports the removal', () => {
    const w = new KeyTableWriter(createKeyTableBuffer(2));
    const removed: number[] = [];
    const r = new KeyTableReader(w.buffer, (k) => removed.push(k[0]!));
    w.install(1, dek(0xaa));
    r.refresh();
    const held = r.get(1)!;
    expect(w.remove(1)).toBe(true);
    expect(w.remove(1)).toBe(false);
    r.refresh();
    expect(r.get(1)).toBeUndefined();
    expect(removed).toEqual([0xaa]);
    expect(held.every((b) => b === 0)).toBe(true);
    expect(new Uint8Array(w.buffer).includes(0xaa)).toBe(false);
    // The freed slot is reusable.
    w.install(2, dek(1));
    w.install(3, dek(2));
    expect(() => w.install(4, dek(3))).toThrow(expect.objectContaining({ code: 'CRYPTO_BACKEND' }));
  });

  it('follows a keystore: existing keys, later sets and deletes', () => {
    const ks = new Keystore();
    ks.set(1, dek(1));
    const w = new KeyTableWriter(createKeyTableBuffer(8));
    const stop = w.follow(ks);
    ks.set(2, dek(2));
    expect(w.loadedKeyIds()).toEqual([1, 2]);
    ks.delete(1);
    expect(w.loadedKeyIds()).toEqual([2]);
    stop();
    ks.set(3, dek(3));
    expect(w.has(3)).toBe(false);
  });
});
