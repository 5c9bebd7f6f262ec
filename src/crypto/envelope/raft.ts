// The raft envelope (SPEC RE-1..RE-7): seals a proposal payload (the bytes after the 9-byte
// proposal header, PE-5) under the raft DEK.
//
//   envelope = 0x01 ‖ flag 0x00 ‖ key_id u32 BE ‖ nonce 12 ‖ ciphertext ‖ tag16   (34 B overhead)
//   AAD      = 0x52 ('R') ‖ version ‖ key_id u32 BE                               (6 bytes)
//
// The AAD's leading 0x52 differs from the storage AAD's leading version byte 0x01, so neither
// layer's envelope ever opens in the other (RE-7).

import { CryptoError, EnvelopeError, IntegrityError } from '../../errors.js';
import { type Aead, type BatchItem, NONCE_SIZE } from '../aead.js';
import { bytesArg, itemArg, itemsArg, smallBytes } from '../bytes.js';
import type { KeyLookup } from '../keystore.js';
import {
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_OVERHEAD,
  ENVELOPE_VERSION,
  parseEnvelope,
  writeEnvelopeHeader,
  writeU32,
} from './framing.js';

export const RAFT_AAD_PURPOSE = 0x52;
export const RAFT_AAD_SIZE = 6;

/** `0x52 ‖ version ‖ key_id (u32 BE)` — exactly 6 bytes (RE-2). */
export function buildRaftAad(version: number, keyId: number): Uint8Array {
  const aad = smallBytes(RAFT_AAD_SIZE);
  aad[0] = RAFT_AAD_PURPOSE;
  aad[1] = version & 0xff;
  writeU32(aad, 2, keyId >>> 0);
  return aad;
}

/** RE-5 check 1: a keystore and a cipher must be wired (CK-3: typed error, not a crash). */
function requireCipher(aead: Aead | null | undefined, keystore: KeyLookup | null | undefined): void {
  if (!aead || !keystore) throw new CryptoError('NIL_KEYSTORE', 'raft envelope: no keystore or cipher wired');
}

function wrapKey(keystore: KeyLookup, keyId: number): Uint8Array {
  if (keyId === 0) throw new CryptoError('RESERVED_KEY_ID', 'raft envelope: key_id 0 is reserved');
  const key = keystore.get(keyId);
  if (key === undefined) throw new CryptoError('UNKNOWN_KEY_ID', `raft envelope: raft DEK key_id ${keyId} is not loaded`);
  return key;
}

function checkWrapNonce(nonceIn: Uint8Array): void {
  const nonce = bytesArg(nonceIn, 'raft envelope nonce');
  if (nonce.length !== NONCE_SIZE) {
    throw new CryptoError('BAD_NONCE_SIZE', `raft envelope: nonce must be ${NONCE_SIZE} bytes, got ${nonce.length}`);
  }
}

/**
 * Seals `payload` into a fresh raft envelope. Preconditions in RE-5 order: NIL_KEYSTORE,
 * BAD_NONCE_SIZE, RESERVED_KEY_ID, UNKNOWN_KEY_ID. The flag is always 0x00 (RE-3).
 */
export function wrapRaft(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  keyId: number,
  nonce: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  requireCipher(aead, keystore);
  checkWrapNonce(nonce);
  nonce = bytesArg(nonce, 'raft envelope nonce');
  payload = bytesArg(payload, 'raft payload');
  const key = wrapKey(keystore!, keyId);
  const sealed = aead!.seal(key, nonce, buildRaftAad(ENVELOPE_VERSION, keyId), payload);
  const out = new Uint8Array(ENVELOPE_HEADER_SIZE + sealed.length);
  writeEnvelopeHeader(out, 0, keyId, nonce);
  out.set(sealed, ENVELOPE_HEADER_SIZE);
  return out;
}

/** Parses and checks RE-6 steps 1–4; returns what step 5 (the open) needs. */
function prepareUnwrap(keystore: KeyLookup, envelope: Uint8Array) {
  const env = parseEnvelope(envelope, 'raft');
  const key = keystore.get(env.keyId);
  if (key === undefined) {
    throw new EnvelopeError('UNKNOWN_KEY_ID', `raft envelope: raft DEK key_id ${env.keyId} is not loaded`);
  }
  return { env, key, aad: buildRaftAad(env.version, env.keyId) };
}

/**
 * Opens a raft envelope. Checks in RE-6 order: ENVELOPE_SHORT, ENVELOPE_VERSION, ENVELOPE_FLAG,
 * UNKNOWN_KEY_ID, INTEGRITY (cause: the backend's error). The plaintext is a fresh buffer that
 * never aliases `envelope`.
 */
export function unwrapRaft(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  envelope: Uint8Array,
): Uint8Array {
  requireCipher(aead, keystore);
  envelope = bytesArg(envelope, 'raft envelope');
  const { env, key, aad } = prepareUnwrap(keystore!, envelope);
  let plain: Uint8Array;
  try {
    plain = aead!.open(key, env.nonce, aad, env.body);
  } catch (e) {
    if (e instanceof IntegrityError) {
      throw new IntegrityError(`raft envelope under key_id ${env.keyId} failed authentication`, { cause: e });
    }
    throw e;
  }
  // The Aead contract returns a fresh buffer; guard the RE-6 no-alias rule anyway, it is cheap.
  return plain.buffer === envelope.buffer ? plain.slice() : plain;
}

export interface RaftWrapItem {
  nonce: Uint8Array;
  payload: Uint8Array;
}

/**
 * Seals every payload under one raft DEK with one `aead.sealBatch` call. Same preconditions as
 * wrapRaft (any bad nonce fails the whole batch before anything is sealed). The envelopes are
 * views into one buffer allocated for the batch (PF-2), never into the inputs.
 */
export function wrapRaftBatch(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  keyId: number,
  items: readonly RaftWrapItem[],
): Uint8Array[] {
  requireCipher(aead, keystore);
  items = itemsArg<RaftWrapItem>(items, 'raft wrap items').map((x, i) => {
    const it = itemArg<RaftWrapItem>(x, `raft wrap item ${i}`);
    return { nonce: bytesArg(it.nonce, `raft wrap item ${i} nonce`), payload: bytesArg(it.payload, `raft wrap item ${i} payload`) };
  });
  for (const it of items) checkWrapNonce(it.nonce);
  const key = wrapKey(keystore!, keyId);
  const aad = buildRaftAad(ENVELOPE_VERSION, keyId);
  const batch: BatchItem[] = items.map((it) => ({ nonce: it.nonce, aad, data: it.payload }));
  const sealed = aead!.sealBatch(key, batch);
  let total = 0;
  for (const s of sealed) total += ENVELOPE_HEADER_SIZE + s.length;
  const out = new Uint8Array(total);
  const envelopes = new Array<Uint8Array>(items.length);
  let off = 0;
  for (let i = 0; i < items.length; i++) {
    const s = sealed[i]!;
    writeEnvelopeHeader(out, off, keyId, items[i]!.nonce);
    out.set(s, off + ENVELOPE_HEADER_SIZE);
    envelopes[i] = out.subarray(off, off + ENVELOPE_HEADER_SIZE + s.length);
    off += ENVELOPE_HEADER_SIZE + s.length;
  }
  return envelopes;
}

/** Per item: the plaintext, or the typed error of that item (RE-6 codes). */
export type RaftUnwrapResult = Uint8Array | EnvelopeError | IntegrityError;

/**
 * Opens many raft envelopes (possibly under different key_ids) with one `aead.openBatch` call per
 * key_id. Each item gets its own RE-6 result; a bad item never affects the others. Plaintexts are
 * views into the batch's output buffers, never into the inputs. NIL_KEYSTORE is thrown for the
 * whole batch.
 */
export function unwrapRaftBatch(
  aead: Aead | null | undefined,
  keystore: KeyLookup | null | undefined,
  envelopes: readonly Uint8Array[],
): RaftUnwrapResult[] {
  requireCipher(aead, keystore);
  // Wrong-typed envelopes are a caller bug: the whole call fails (BAD_INPUT_TYPE), not one item.
  envelopes = itemsArg<Uint8Array>(envelopes, 'raft envelopes').map((e, i) => bytesArg(e, `raft envelope ${i}`));
  const results = new Array<RaftUnwrapResult>(envelopes.length);
  const groups = new Map<number, { key: Uint8Array; idx: number[]; items: BatchItem[] }>();
  for (let i = 0; i < envelopes.length; i++) {
    try {
      const { env, key, aad } = prepareUnwrap(keystore!, envelopes[i]!);
      let g = groups.get(env.keyId);
      if (!g) {
        g = { key, idx: [], items: [] };
        groups.set(env.keyId, g);
      }
      g.idx.push(i);
      g.items.push({ nonce: env.nonce, aad, data: env.body });
    } catch (e) {
      if (!(e instanceof EnvelopeError)) throw e;
      results[i] = e;
    }
  }
  for (const [keyId, g] of groups) {
    const opened = aead!.openBatch(g.key, g.items);
    for (let j = 0; j < g.idx.length; j++) {
      const r = opened[j]!;
      results[g.idx[j]!] =
        r instanceof Uint8Array
          ? r
          : new IntegrityError(`raft envelope (batch item ${g.idx[j]}) under key_id ${keyId} failed authentication`, {
              cause: r,
            });
    }
  }
  return results;
}

/** Exported for layouts that size buffers ahead (the pool): envelope length for a payload length. */
export function raftEnvelopeLength(payloadLength: number): number {
  return payloadLength + ENVELOPE_OVERHEAD;
}
