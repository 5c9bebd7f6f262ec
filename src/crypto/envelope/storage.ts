// The storage envelope around every encrypted `kv` value (SPEC SE-1..SE-3, SE-9).
//
//   record = value header (9 B, SE-4) ‖ body
//   body   = storage envelope (state 0b01): 0x01 ‖ 0x00 ‖ key_id ‖ nonce 12 ‖ ciphertext ‖ tag16
//            or the cleartext value (state 0b00)
//   AAD    = 0x01 ‖ 0x00 ‖ key_id u32 BE ‖ value header (9 B) ‖ storage key
//
// Binding the header and the storage key rejects header rewrites and cut-and-paste between keys
// (SE-3); the leading version byte keeps raft envelopes out (RE-7).

import { CryptoError, EnvelopeError, IntegrityError } from '../../errors.js';
import { type Aead, type BatchItem, NONCE_SIZE } from '../aead.js';
import { bytesArg, itemArg, itemsArg, smallBytes } from '../bytes.js';
import type { KeyLookup } from '../keystore.js';
import {
  ENV_KEY_ID_OFFSET,
  ENV_NONCE_OFFSET,
  ENVELOPE_FLAG_NONE,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_OVERHEAD,
  ENVELOPE_VERSION,
  parseEnvelope,
  writeEnvelopeHeader,
  writeU32,
} from './framing.js';
import {
  decodeValueHeader,
  encodeValueHeader,
  STATE_CLEARTEXT,
  STATE_ENCRYPTED,
  VALUE_HEADER_SIZE,
  type ValueHeader,
} from './value-header.js';

/** AAD bytes before the header and the storage key: version, flag, key_id. */
const STORAGE_AAD_PREFIX = 6;

/**
 * `0x01 ‖ 0x00 ‖ key_id ‖ header ‖ storageKey` (SE-2). `header` is the 9 stored header bytes or a
 * ValueHeader to encode.
 */
export function buildStorageAad(keyId: number, header: ValueHeader | Uint8Array, storageKey: Uint8Array): Uint8Array {
  storageKey = bytesArg(storageKey, 'storage key');
  if (typeof header !== 'object' || header === null) throw new CryptoError('BAD_INPUT_TYPE', `value header must be 9 bytes or a ValueHeader, got ${header === null ? 'null' : typeof header}`);
  if (ArrayBuffer.isView(header)) header = bytesArg(header, 'value header');
  const aad = smallBytes(STORAGE_AAD_PREFIX + VALUE_HEADER_SIZE + storageKey.length);
  aad[0] = ENVELOPE_VERSION;
  aad[1] = ENVELOPE_FLAG_NONE;
  writeU32(aad, 2, keyId >>> 0);
  if (header instanceof Uint8Array) {
    if (header.length !== VALUE_HEADER_SIZE) {
      throw new RangeError(`value header must be ${VALUE_HEADER_SIZE} bytes, got ${header.length}`);
    }
    aad.set(header, STORAGE_AAD_PREFIX);
  } else {
    encodeValueHeader(header, aad, STORAGE_AAD_PREFIX);
  }
  aad.set(storageKey, STORAGE_AAD_PREFIX + VALUE_HEADER_SIZE);
  return aad;
}

function requireSealer(aead: Aead | null | undefined, keystore: KeyLookup | null | undefined): void {
  if (!aead) throw new CryptoError('NO_CIPHER', 'storage envelope: no cipher wired');
  if (!keystore) throw new CryptoError('NIL_KEYSTORE', 'storage envelope: no keystore wired');
}

function sealKey(keystore: KeyLookup, keyId: number): Uint8Array {
  if (keyId === 0) throw new CryptoError('RESERVED_KEY_ID', 'storage envelope: key_id 0 is reserved');
  const key = keystore.get(keyId);
  if (key === undefined) {
    throw new CryptoError('UNKNOWN_KEY_ID', `storage envelope: storage DEK key_id ${keyId} is not loaded`);
  }
  return key;
}

function checkSealNonce(nonceIn: Uint8Array): void {
  const nonce = bytesArg(nonceIn, 'storage envelope nonce');
  if (nonce.length !== NONCE_SIZE) {
    throw new CryptoError('BAD_NONCE_SIZE', `storage envelope: nonce must be ${NONCE_SIZE} bytes, got ${nonce.length}`);
  }
}

/** The header of every value this module seals: live, encrypted (tombstones are never encrypted, SE-6). */
function encryptedHeader(expireAt: bigint): ValueHeader {
  return { tombstone: false, state: STATE_ENCRYPTED, expireAt };
}

/**
 * Seals `value` for `storageKey` and returns the whole stored record (header ‖ envelope) in a
 * fresh buffer. Preconditions in the RE-5 order: NO_CIPHER / NIL_KEYSTORE, BAD_NONCE_SIZE,
 * RESERVED_KEY_ID, UNKNOWN_KEY_ID. The flag is always 0x00 (SE-7: no compression).
 */
export function sealValue(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  keyId: number,
  nonce: Uint8Array,
  storageKey: Uint8Array,
  value: Uint8Array,
  expireAt = 0n,
): Uint8Array {
  requireSealer(aead, keystore);
  checkSealNonce(nonce);
  nonce = bytesArg(nonce, 'storage envelope nonce');
  storageKey = bytesArg(storageKey, 'storage key');
  value = bytesArg(value, 'value');
  const key = sealKey(keystore!, keyId);
  const out = new Uint8Array(VALUE_HEADER_SIZE + ENVELOPE_OVERHEAD + value.length);
  encodeValueHeader(encryptedHeader(expireAt), out, 0);
  const aad = buildStorageAad(keyId, out.subarray(0, VALUE_HEADER_SIZE), storageKey);
  const sealed = aead!.seal(key, nonce, aad, value);
  writeEnvelopeHeader(out, VALUE_HEADER_SIZE, keyId, nonce);
  out.set(sealed, VALUE_HEADER_SIZE + ENVELOPE_HEADER_SIZE);
  return out;
}

export interface StorageSealItem {
  nonce: Uint8Array;
  storageKey: Uint8Array;
  value: Uint8Array;
  /** ms since the Unix epoch; 0n (default) = no expiry. */
  expireAt?: bigint;
}

/**
 * Seals many values under one storage DEK with one `aead.sealBatch` call. Returns the stored
 * records (header ‖ envelope) as views into one buffer allocated for the batch (PF-2).
 */
export function sealValueBatch(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  keyId: number,
  items: readonly StorageSealItem[],
): Uint8Array[] {
  requireSealer(aead, keystore);
  items = itemsArg<StorageSealItem>(items, 'storage seal items').map((x, i) => {
    const it = itemArg<StorageSealItem>(x, `storage seal item ${i}`);
    const checked: StorageSealItem = {
      nonce: bytesArg(it.nonce, `storage seal item ${i} nonce`),
      storageKey: bytesArg(it.storageKey, `storage seal item ${i} storageKey`),
      value: bytesArg(it.value, `storage seal item ${i} value`),
    };
    if (it.expireAt !== undefined) checked.expireAt = it.expireAt;
    return checked;
  });
  for (const it of items) checkSealNonce(it.nonce);
  const key = sealKey(keystore!, keyId);
  let total = 0;
  for (const it of items) total += VALUE_HEADER_SIZE + ENVELOPE_OVERHEAD + it.value.length;
  const out = new Uint8Array(total);
  const records = new Array<Uint8Array>(items.length);
  const batch = new Array<BatchItem>(items.length);
  let off = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const len = VALUE_HEADER_SIZE + ENVELOPE_OVERHEAD + it.value.length;
    const rec = out.subarray(off, off + len);
    encodeValueHeader(encryptedHeader(it.expireAt ?? 0n), rec, 0);
    writeEnvelopeHeader(rec, VALUE_HEADER_SIZE, keyId, it.nonce);
    batch[i] = { nonce: it.nonce, aad: buildStorageAad(keyId, rec.subarray(0, VALUE_HEADER_SIZE), it.storageKey), data: it.value };
    records[i] = rec;
    off += len;
  }
  const sealed = aead!.sealBatch(key, batch);
  for (let i = 0; i < items.length; i++) records[i]!.set(sealed[i]!, VALUE_HEADER_SIZE + ENVELOPE_HEADER_SIZE);
  return records;
}

function readIntegrity(storageKeyLen: number, cause: unknown, what: string): EnvelopeError {
  return new EnvelopeError('ENCRYPTED_READ_INTEGRITY', `stored value (key of ${storageKeyLen} bytes): ${what}`, { cause });
}

/**
 * Opens the storage envelope `body` stored under `headerBytes` (the 9 stored header bytes) for
 * `storageKey`. Checks in SE-1 order: short → ENCRYPTED_READ_INTEGRITY (cause ENVELOPE_SHORT);
 * version → ENVELOPE_VERSION; flag → ENCRYPTED_READ_INTEGRITY (cause ENVELOPE_FLAG); key_id not
 * loaded → UNKNOWN_KEY_ID; tag → ENCRYPTED_READ_INTEGRITY (cause INTEGRITY). Returns a fresh buffer.
 */
export function openStorageEnvelope(
  aead: Aead,
  keystore: KeyLookup,
  headerBytes: Uint8Array,
  body: Uint8Array,
  storageKey: Uint8Array,
): Uint8Array {
  headerBytes = bytesArg(headerBytes, 'value header');
  body = bytesArg(body, 'storage envelope');
  storageKey = bytesArg(storageKey, 'storage key');
  let env: ReturnType<typeof parseEnvelope>;
  try {
    env = parseEnvelope(body, 'storage');
  } catch (e) {
    if (e instanceof EnvelopeError && (e.code === 'ENVELOPE_SHORT' || e.code === 'ENVELOPE_FLAG')) {
      throw readIntegrity(storageKey.length, e, e.message);
    }
    throw e;
  }
  const key = keystore.get(env.keyId);
  if (key === undefined) {
    throw new EnvelopeError('UNKNOWN_KEY_ID', `storage envelope: storage DEK key_id ${env.keyId} is not loaded`);
  }
  const aad = buildStorageAad(env.keyId, headerBytes, storageKey);
  let plain: Uint8Array;
  try {
    plain = aead.open(key, env.nonce, aad, env.body);
  } catch (e) {
    if (e instanceof IntegrityError) {
      throw readIntegrity(
        storageKey.length,
        new IntegrityError(`storage envelope under key_id ${env.keyId} failed authentication`, { cause: e }),
        `storage envelope under key_id ${env.keyId} failed authentication`,
      );
    }
    throw e;
  }
  return plain.buffer === body.buffer ? plain.slice() : plain;
}

export interface OpenedValue {
  header: ValueHeader;
  /** The value bytes in a fresh buffer (never a view into the record). */
  value: Uint8Array;
}

/**
 * Reads a stored record (header ‖ body). Dispatches on the header's state bits only (SE-5):
 * state 0b01 opens the envelope (SE-1 checks; NO_CIPHER when no cipher is wired); state 0b00
 * returns the body after the SE-9 relabel guard when a cipher is wired. A reserved header fails
 * with ENCRYPTED_VALUE_RESERVED_STATE, a record shorter than 9 bytes with ENVELOPE_SHORT.
 * Visibility (tombstone, expiry) is the caller's, decided on the returned header — which has
 * authenticated when the record was encrypted (SE-8).
 */
export function openValue(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  storageKey: Uint8Array,
  record: Uint8Array,
): OpenedValue {
  storageKey = bytesArg(storageKey, 'storage key');
  record = bytesArg(record, 'stored record');
  const header = decodeValueHeader(record);
  const headerBytes = record.subarray(0, VALUE_HEADER_SIZE);
  const body = record.subarray(VALUE_HEADER_SIZE);
  if (header.state === STATE_CLEARTEXT) {
    if (aead && keystore) guardRelabelledCleartext(aead, keystore, header, body, storageKey);
    return { header, value: body.slice() };
  }
  if (!aead || !keystore) {
    throw new CryptoError('NO_CIPHER', 'stored value is encrypted but no cipher is wired');
  }
  return { header, value: openStorageEnvelope(aead, keystore, headerBytes, body, storageKey) };
}

export interface StorageOpenItem {
  storageKey: Uint8Array;
  /** The stored record: header ‖ body. */
  record: Uint8Array;
}

/** Per item: the opened value, or that item's typed error. */
export type StorageOpenResult = OpenedValue | EnvelopeError | CryptoError;

/**
 * openValue for many records (MGET, SCAN, read-modify-write batches): the same checks and errors
 * per item, with one `aead.openBatch` call per key_id for the encrypted ones. Values are fresh
 * (views into the batch output, or copies of cleartext bodies), never views into the records.
 */
export function openValueBatch(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  items: readonly StorageOpenItem[],
): StorageOpenResult[] {
  // Wrong-typed items are a caller bug: the whole call fails (BAD_INPUT_TYPE), not one item.
  items = itemsArg<StorageOpenItem>(items, 'storage open items').map((x, i) => {
    const it = itemArg<StorageOpenItem>(x, `storage open item ${i}`);
    return { storageKey: bytesArg(it.storageKey, `storage open item ${i} storageKey`), record: bytesArg(it.record, `storage open item ${i} record`) };
  });
  const results = new Array<StorageOpenResult>(items.length);
  const groups = new Map<number, { key: Uint8Array; idx: number[]; headers: ValueHeader[]; batch: BatchItem[] }>();
  for (let i = 0; i < items.length; i++) {
    const { storageKey, record } = items[i]!;
    try {
      const header = decodeValueHeader(record);
      const body = record.subarray(VALUE_HEADER_SIZE);
      if (header.state === STATE_CLEARTEXT) {
        if (aead && keystore) guardRelabelledCleartext(aead, keystore, header, body, storageKey);
        results[i] = { header, value: body.slice() };
        continue;
      }
      if (!aead || !keystore) throw new CryptoError('NO_CIPHER', 'stored value is encrypted but no cipher is wired');
      let env: ReturnType<typeof parseEnvelope>;
      try {
        env = parseEnvelope(body, 'storage');
      } catch (e) {
        if (e instanceof EnvelopeError && (e.code === 'ENVELOPE_SHORT' || e.code === 'ENVELOPE_FLAG')) {
          throw readIntegrity(storageKey.length, e, e.message);
        }
        throw e;
      }
      const key = keystore.get(env.keyId);
      if (key === undefined) {
        throw new EnvelopeError('UNKNOWN_KEY_ID', `storage envelope: storage DEK key_id ${env.keyId} is not loaded`);
      }
      let g = groups.get(env.keyId);
      if (!g) {
        g = { key, idx: [], headers: [], batch: [] };
        groups.set(env.keyId, g);
      }
      g.idx.push(i);
      g.headers.push(header);
      g.batch.push({
        nonce: env.nonce,
        aad: buildStorageAad(env.keyId, record.subarray(0, VALUE_HEADER_SIZE), storageKey),
        data: env.body,
      });
    } catch (e) {
      if (!(e instanceof EnvelopeError || e instanceof CryptoError)) throw e;
      results[i] = e;
    }
  }
  for (const [keyId, g] of groups) {
    const opened = aead!.openBatch(g.key, g.batch);
    for (let j = 0; j < g.idx.length; j++) {
      const r = opened[j]!;
      const i = g.idx[j]!;
      results[i] =
        r instanceof Uint8Array
          ? { header: g.headers[j]!, value: r }
          : readIntegrity(
              items[i]!.storageKey.length,
              new IntegrityError(`storage envelope under key_id ${keyId} failed authentication`, { cause: r }),
              `storage envelope under key_id ${keyId} failed authentication`,
            );
    }
  }
  return results;
}

/**
 * SE-9: a record labelled cleartext whose body could be a storage envelope (≥ 34 bytes) is tried
 * as one under every loaded DEK, with the canonical encrypted header (expireAt as stored, then 0).
 * If any attempt authenticates, the header was relabelled: ENCRYPTED_READ_INTEGRITY. Otherwise it
 * returns and the body is a genuine cleartext value. The body's own key_id, version and flag bytes
 * are ignored on purpose: an attacker may have rewritten them too.
 */
export function guardRelabelledCleartext(
  aead: Aead,
  keystore: KeyLookup,
  header: ValueHeader,
  body: Uint8Array,
  storageKey: Uint8Array,
): void {
  if (body.length < ENVELOPE_OVERHEAD) return;
  const nonce = body.subarray(ENV_NONCE_OFFSET, ENV_NONCE_OFFSET + NONCE_SIZE);
  const sealed = body.subarray(ENVELOPE_HEADER_SIZE);
  const candidates = [encryptedHeader(header.expireAt)];
  if (header.expireAt !== 0n) candidates.push(encryptedHeader(0n));
  for (const keyId of keystore.loadedKeyIds()) {
    const key = keystore.get(keyId);
    if (key === undefined) continue;
    for (const h of candidates) {
      let plain: Uint8Array;
      try {
        plain = aead.open(key, nonce, buildStorageAad(keyId, h, storageKey), sealed);
      } catch (e) {
        if (e instanceof IntegrityError) continue;
        throw e;
      }
      // Authenticated: never let the plaintext linger.
      plain.fill(0);
      throw new EnvelopeError(
        'ENCRYPTED_READ_INTEGRITY',
        `stored value labelled cleartext is a storage envelope under key_id ${keyId} (relabelled header)`,
      );
    }
  }
}

/** The key_id field of a storage envelope body (diagnostics, rotation scans); no checks beyond length. */
export function storageEnvelopeKeyId(body: Uint8Array): number | undefined {
  if (body.length < ENV_KEY_ID_OFFSET + 4) return undefined;
  return ((body[2]! << 24) | (body[3]! << 16) | (body[4]! << 8) | body[5]!) >>> 0;
}
