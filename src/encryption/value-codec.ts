// The `kv` value codec of an encrypting node (SE-1, SE-5, SE-6, SE-9, SE-10).
//
// Writes: cleartext (state 0b00) until the storage envelope is published active, then every
// value is sealed with the active storage DEK, bound to the user key and the value header, with
// a nonce from the storage factory (the only one of this process, KM-9). Reads dispatch on the
// header's state bits only: 0b00 cleartext (old values stay readable, SE-9 relabel guard), 0b01
// opened and authenticated before anything of the record is used (SE-8). A failed open throws
// its typed error; the caller never sees the raw envelope.

import type { Aead } from '../crypto/aead.js';
import { ENVELOPE_OVERHEAD, parseEnvelope, writeEnvelopeKeyId } from '../crypto/envelope/framing.js';
import { buildStorageAad, openValue, sealValue } from '../crypto/envelope/storage.js';
import { STATE_CLEARTEXT, STATE_ENCRYPTED, VALUE_HEADER_SIZE, decodeValueHeader, encodeValueHeader } from '../crypto/envelope/value-header.js';
import type { NonceFactory } from '../crypto/envelope/nonce.js';
import type { Keystore } from '../crypto/keystore.js';
import { CryptoError, SealkvError } from '../errors.js';
import { type DecodedRecord, joinRecord, type LogicalHeader, type ValueCodec, type ValueHeader } from '../node/fsm/value-codec.js';
import type { CryptoPool } from '../pool/index.js';
import { RecordSlab } from './record-slab.js';
import type { EncryptionStateCell } from './state-cell.js';
import { StorageSealBatch } from './storage-seal-batch.js';

/** Counts of sealed writes per DEK and decrypt failures per reason (metrics read them). */
export class CodecCounters {
  readonly writesPerDek = new Map<number, number>();
  readonly decryptFailures = new Map<string, number>();
}

export class SealingValueCodec implements ValueCodec {
  readonly counters = new CodecCounters();
  /** Records staged but not sealed yet, by identity → their batch and item (read-your-writes). */
  private readonly pending = new Map<Uint8Array, { batch: StorageSealBatch; item: number }>();
  /** The current apply batch's seals, per storage DEK (almost always one). */
  private batches = new Map<number, StorageSealBatch>();
  private readonly records = new RecordSlab();
  /** Wiped batches kept for reuse (their buffers are the costly part). */
  private readonly spare: StorageSealBatch[] = [];
  /** Records opened in the pool by `preopen`, by identity; the entry dies with the read's record. */
  private readonly preopened = new WeakMap<Uint8Array, Uint8Array>();
  /** Reads worth the pool: a value body at least this large, or at least `preopenMinBatch` sealed records. */
  static readonly preopenMinBytes = 16 * 1024;
  static readonly preopenMinBatch = 8;

  /**
   * With `pool`, writes inside apply are collected per apply batch in packed form and sealed in
   * one pool call per storage DEK (`encodeRecord` + `finishBatch`; inline or in a worker by the
   * pool's policy); without it every write is sealed inline, one cipher call each.
   */
  constructor(
    private readonly aead: Aead,
    private readonly keystore: Keystore,
    private readonly state: EncryptionStateCell,
    private readonly nonces: NonceFactory,
    private readonly pool: CryptoPool | null = null,
  ) {}

  /**
   * SE-1/SE-6 inside apply: the record's header and envelope header (key_id, a fresh nonce) now,
   * its ciphertext in `finishBatch`. Cleartext (state 0b00) before the switch and for tombstones.
   */
  encodeRecord(key: Uint8Array, header: LogicalHeader, value: Uint8Array): Uint8Array {
    if (this.pool === null || header.tombstone || !this.state.storageEnvelopeActive()) {
      const { header: h, body } = this.encodeForStore(key, header, value);
      return joinRecord(h, body);
    }
    const keyId = this.activeKeyId();
    let batch = this.batches.get(keyId);
    if (batch === undefined) {
      batch = this.spare.pop() ?? new StorageSealBatch(keyId);
      batch.reset(keyId);
      this.batches.set(keyId, batch);
    }
    const record = this.records.alloc(VALUE_HEADER_SIZE + ENVELOPE_OVERHEAD + value.length);
    encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt: header.expireAt }, record, 0);
    writeEnvelopeKeyId(record, VALUE_HEADER_SIZE, keyId); // the nonce: drawn per batch in finishBatch
    this.pending.set(record, { batch, item: batch.add(record, key, value) });
    return record;
  }

  /**
   * Seals every staged record of the batch: one pool call per storage DEK (almost always one).
   * A failure leaves the records unsealed and rejects; the pipeline then HALTs without
   * committing any of them (SE-6). The cleartext copies are wiped either way.
   */
  async finishBatch(): Promise<void> {
    if (this.batches.size === 0 || this.pool === null) return;
    const batches = [...this.batches.values()];
    this.batches = new Map();
    try {
      for (const b of batches) {
        await this.pool.sealPacked(b.keyId, b.packed(this.nonces));
        b.deliver();
        this.counters.writesPerDek.set(b.keyId, (this.counters.writesPerDek.get(b.keyId) ?? 0) + b.count);
      }
    } finally {
      for (const b of batches) {
        b.wipe();
        for (const r of b.staged()) this.pending.delete(r);
        b.reset(0);
        if (this.spare.length < 4) this.spare.push(b);
      }
    }
  }

  private activeKeyId(): number {
    const keyId = this.state.activeDekId('storage');
    if (keyId === 0 || !this.keystore.has(keyId)) throw new CryptoError('UNKNOWN_KEY_ID', `the storage envelope is active but storage DEK ${keyId} is not loaded`);
    return keyId;
  }

  encodeForStore(key: Uint8Array, header: LogicalHeader, value: Uint8Array): { header: ValueHeader; body: Uint8Array } {
    if (header.tombstone || !this.state.storageEnvelopeActive()) {
      return { header: { tombstone: header.tombstone, state: STATE_CLEARTEXT, expireAt: header.expireAt }, body: value };
    }
    const keyId = this.activeKeyId();
    const record = sealValue(this.aead, this.keystore, keyId, this.nonces.next(), key, value, header.expireAt);
    this.counters.writesPerDek.set(keyId, (this.counters.writesPerDek.get(keyId) ?? 0) + 1);
    return { header: decodeValueHeader(record), body: record.subarray(VALUE_HEADER_SIZE) };
  }

  /**
   * SE-5/SE-8 off the main thread for large or batched reads (issue 10 item 4): the sealed records
   * among `items` are opened in the pool, one call per storage key_id. A record that fails here
   * (framing, unknown key, tag) is not remembered: `decodeFromStore` opens it inline and throws its
   * typed error, so both paths fail the same way. Small single reads stay inline.
   */
  async preopen(items: readonly { key: Uint8Array; record: Uint8Array }[]): Promise<void> {
    if (this.pool === null) return;
    const sealed: { key: Uint8Array; record: Uint8Array }[] = [];
    let largest = 0;
    for (const it of items) {
      let state: number;
      try {
        state = decodeValueHeader(it.record).state;
      } catch {
        continue; // reserved or short: decodeFromStore reports it
      }
      if (state !== STATE_ENCRYPTED) continue;
      sealed.push(it);
      if (it.record.length > largest) largest = it.record.length;
    }
    if (sealed.length < SealingValueCodec.preopenMinBatch && largest < SealingValueCodec.preopenMinBytes) return;
    const byKey = new Map<number, { record: Uint8Array; nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[]>();
    for (const { key, record } of sealed) {
      try {
        const env = parseEnvelope(record.subarray(VALUE_HEADER_SIZE), 'storage');
        if (!this.keystore.has(env.keyId)) continue;
        let list = byKey.get(env.keyId);
        if (list === undefined) {
          list = [];
          byKey.set(env.keyId, list);
        }
        list.push({ record, nonce: env.nonce, aad: buildStorageAad(env.keyId, record.subarray(0, VALUE_HEADER_SIZE), key), data: env.body });
      } catch {
        // left to decodeFromStore, which throws the typed error
      }
    }
    const pool = this.pool;
    await Promise.all(
      [...byKey].map(async ([keyId, list]) => {
        let opened: (Uint8Array | SealkvError)[];
        try {
          opened = await pool.open(keyId, list);
        } catch {
          return; // the pool is unusable for this key: the inline path decides
        }
        opened.forEach((v, i) => {
          if (v instanceof Uint8Array) this.preopened.set(list[i]!.record, v.slice());
        });
      }),
    );
  }

  decodeFromStore(key: Uint8Array, record: Uint8Array): DecodedRecord {
    const p = this.pending.get(record);
    if (p !== undefined) return { header: decodeValueHeader(record), value: p.batch.plaintext(p.item) };
    const o = this.preopened.get(record);
    if (o !== undefined) {
      this.preopened.delete(record);
      return { header: decodeValueHeader(record), value: o };
    }
    try {
      return openValue(this.aead, this.keystore, key, record);
    } catch (e) {
      const reason = e instanceof SealkvError ? e.code : 'INTERNAL';
      this.counters.decryptFailures.set(reason, (this.counters.decryptFailures.get(reason) ?? 0) + 1);
      throw e;
    }
  }
}
