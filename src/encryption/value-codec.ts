// The `kv` value codec of an encrypting node (SE-1, SE-5, SE-6, SE-9, SE-10).
//
// Writes: cleartext (state 0b00) until the storage envelope is published active, then every
// value is sealed with the active storage DEK, bound to the user key and the value header, with
// a nonce from the storage factory (the only one of this process, KM-9). Reads dispatch on the
// header's state bits only: 0b00 cleartext (old values stay readable, SE-9 relabel guard), 0b01
// opened and authenticated before anything of the record is used (SE-8). A failed open throws
// its typed error; the caller never sees the raw envelope.

import type { Aead } from '../crypto/aead.js';
import { openValue, sealValue } from '../crypto/envelope/storage.js';
import { STATE_CLEARTEXT, VALUE_HEADER_SIZE, decodeValueHeader } from '../crypto/envelope/value-header.js';
import type { NonceFactory } from '../crypto/envelope/nonce.js';
import type { Keystore } from '../crypto/keystore.js';
import { CryptoError, SealkvError } from '../errors.js';
import type { DecodedRecord, LogicalHeader, ValueCodec, ValueHeader } from '../node/fsm/value-codec.js';
import type { EncryptionStateCell } from './state-cell.js';

/** Counts of sealed writes per DEK and decrypt failures per reason (metrics read them). */
export class CodecCounters {
  readonly writesPerDek = new Map<number, number>();
  readonly decryptFailures = new Map<string, number>();
}

export class SealingValueCodec implements ValueCodec {
  readonly counters = new CodecCounters();

  constructor(
    private readonly aead: Aead,
    private readonly keystore: Keystore,
    private readonly state: EncryptionStateCell,
    private readonly nonces: NonceFactory,
  ) {}

  encodeForStore(key: Uint8Array, header: LogicalHeader, value: Uint8Array): { header: ValueHeader; body: Uint8Array } {
    if (header.tombstone || !this.state.storageEnvelopeActive()) {
      return { header: { tombstone: header.tombstone, state: STATE_CLEARTEXT, expireAt: header.expireAt }, body: value };
    }
    const keyId = this.state.activeDekId('storage');
    if (keyId === 0) throw new CryptoError('UNKNOWN_KEY_ID', 'the storage envelope is active but no storage DEK is');
    const record = sealValue(this.aead, this.keystore, keyId, this.nonces.next(), key, value, header.expireAt);
    this.counters.writesPerDek.set(keyId, (this.counters.writesPerDek.get(keyId) ?? 0) + 1);
    return { header: decodeValueHeader(record), body: record.subarray(VALUE_HEADER_SIZE) };
  }

  decodeFromStore(key: Uint8Array, record: Uint8Array): DecodedRecord {
    try {
      return openValue(this.aead, this.keystore, key, record);
    } catch (e) {
      const reason = e instanceof SealkvError ? e.code : 'INTERNAL';
      this.counters.decryptFailures.set(reason, (this.counters.decryptFailures.get(reason) ?? 0) + 1);
      throw e;
    }
  }
}
