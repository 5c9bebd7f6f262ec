// Runs one task buffer synchronously: the body of a worker task, and of the inline path on the
// main thread, so both paths have exactly the same semantics (results, statuses, zeroing).
//
// Failures are written into the buffer (per-item status bytes, or a batch status in the header)
// instead of thrown, because an Error crossing a thread loses its class and code; the main
// thread turns the codes back into typed errors. Only a backend defect throws.

import { type Aead, DESC_FIELDS, NONCE_SIZE } from '../crypto/aead.js';
import {
  checkEnvelopeFraming,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_OVERHEAD,
  ENVELOPE_VERSION,
  ENV_NONCE_OFFSET,
  type FramingFault,
  readU32,
  writeEnvelopeHeader,
} from '../crypto/envelope/framing.js';
import type { KeyLookup } from '../crypto/keystore.js';
import { RAFT_AAD_PURPOSE, RAFT_AAD_SIZE } from '../crypto/envelope/raft.js';
import {
  BATCH_KEY_TABLE_BEHIND,
  BATCH_MALFORMED,
  BATCH_OK,
  BATCH_UNKNOWN_KEY_ID,
  H_BATCH_KEY,
  H_BATCH_STATUS,
  H_COUNT,
  H_CRYPTO_MS_BYTE,
  H_KEY_ID,
  H_KEY_VERSION,
  H_MAGIC,
  H_OP,
  H_OUTPUT_LEN,
  H_SCRATCH_OFF,
  H_STORE_OFF,
  H_WORKER_ID,
  OP_OPEN,
  OP_PING,
  OP_RESEAL,
  OP_SEAL,
  RS_ENV,
  RS_ENV_LEN,
  RS_FIELDS,
  RS_PLAIN,
  RS_RAFT_AAD,
  RS_SAAD,
  RS_SAAD_LEN,
  RS_SNONCE,
  RS_STORE,
  ST_ENVELOPE_FLAG,
  ST_ENVELOPE_SHORT,
  ST_ENVELOPE_VERSION,
  ST_INTEGRITY,
  ST_OK,
  ST_UNKNOWN_KEY_ID,
  TASK_MAGIC,
  type TaskViews,
  viewTask,
} from './task-format.js';


/** Keys as the executor sees them: a lookup plus the version it reflects. */
export interface ExecutorKeys extends KeyLookup {
  /** Brings the view up to date and returns the version it now reflects. */
  refresh(): number;
}

/**
 * Executes the task in `buffer`: statuses go into the task buffer, results into a new output
 * buffer of the size the header names, which is returned. The milliseconds spent are written
 * into the header for the main thread's metrics. For a seal, the plaintext copy in the task
 * buffer is wiped before returning (the buffer is recycled by the main thread).
 */
/** The task-format status of each RE-6 framing fault (one check, crypto/envelope/framing.ts). */
const FRAMING_STATUS: Record<FramingFault, number> = {
  ENVELOPE_SHORT: ST_ENVELOPE_SHORT,
  ENVELOPE_VERSION: ST_ENVELOPE_VERSION,
  ENVELOPE_FLAG: ST_ENVELOPE_FLAG,
};

export function executeTask(buffer: ArrayBuffer, aead: Aead, keys: ExecutorKeys, workerId = 0): ArrayBuffer {
  const t0 = performance.now();
  const t = viewTask(buffer);
  const h = t.header;
  h[H_WORKER_ID] = workerId;
  h[H_BATCH_STATUS] = BATCH_OK;
  if (h[H_MAGIC] !== TASK_MAGIC) return fail(t, BATCH_MALFORMED, 0, t0);
  const loaded = keys.refresh();
  if (h[H_OP] === OP_PING) {
    finish(t, t0);
    return new ArrayBuffer(0);
  }
  // Version comparison that survives i32 wrap-around; cannot fail while postMessage orders the
  // install before the task, but a silent use of a stale table would be worse than an error.
  if ((((loaded | 0) - (h[H_KEY_VERSION]! | 0)) | 0) < 0) return fail(t, BATCH_KEY_TABLE_BEHIND, 0, t0);
  const keyId = h[H_KEY_ID]!;
  const key = keys.get(keyId);
  if (key === undefined) return fail(t, BATCH_UNKNOWN_KEY_ID, keyId, t0);
  const op = h[H_OP];
  if (op !== OP_SEAL && op !== OP_OPEN && op !== OP_RESEAL) return fail(t, BATCH_MALFORMED, 0, t0);
  const outLen = h[H_OUTPUT_LEN]!;
  // A seal writes every output byte, so its output need not be zero-filled first; open and
  // reseal leave failed items' slots untouched, which must read as zeros.
  const output =
    op === OP_SEAL && outLen >= UNFILLED_ALLOC_MIN ? (Buffer.allocUnsafeSlow(outLen).buffer as ArrayBuffer) : new ArrayBuffer(outLen);
  const out = new Uint8Array(output, 0, outLen);
  try {
    if (op === OP_SEAL) {
      aead.sealPacked(key, { count: h[H_COUNT]!, input: t.input, desc: t.desc, output: out });
      t.status.fill(ST_OK);
    } else if (op === OP_OPEN) {
      runOpen(aead, key, t, out);
    } else {
      runReseal(aead, key, keyId, keys, t, out);
    }
  } finally {
    if (op === OP_SEAL) t.input.fill(0);
  }
  finish(t, t0);
  return output;
}

/** Below this, a zero-filled allocation costs the same as an unfilled one. */
const UNFILLED_ALLOC_MIN = 16 * 1024;

function fail(t: TaskViews, status: number, keyId: number, t0: number): ArrayBuffer {
  t.header[H_BATCH_STATUS] = status;
  t.header[H_BATCH_KEY] = keyId;
  if (t.header[H_OP] === OP_SEAL) t.input.fill(0);
  finish(t, t0);
  return new ArrayBuffer(0);
}

function finish(t: TaskViews, t0: number): void {
  new Float64Array(t.buffer, H_CRYPTO_MS_BYTE, 1)[0] = performance.now() - t0;
}

/** Reads the crypto milliseconds the executor recorded in a task buffer. */
export function cryptoMs(buffer: ArrayBuffer): number {
  return new Float64Array(buffer, H_CRYPTO_MS_BYTE, 1)[0]!;
}

function runOpen(aead: Aead, key: Uint8Array, t: TaskViews, out: Uint8Array): void {
  // openPacked writes 1 (ok) / 0 (failed); re-code so 0 keeps meaning "never processed".
  aead.openPacked(key, { count: t.header[H_COUNT]!, input: t.input, desc: t.desc, output: out }, t.status);
  const s = t.status;
  for (let i = 0; i < s.length; i++) s[i] = s[i] === 1 ? ST_OK : ST_INTEGRITY;
}

/**
 * Reseal: RE-6 framing and key checks per item, one openPacked call per raft key_id (almost
 * always one), then one sealPacked call for every item that opened.
 */
function runReseal(aead: Aead, storageKey: Uint8Array, storageKeyId: number, keys: KeyLookup, t: TaskViews, out: Uint8Array): void {
  const count = t.header[H_COUNT]!;
  const { desc, input, status } = t;
  // Raft key_id of each item that passed the framing checks, grouped for the open calls.
  const groups = new Map<number, number[]>();
  for (let i = 0, d = 0; i < count; i++, d += RS_FIELDS) {
    const env = desc[d + RS_ENV]!;
    const len = desc[d + RS_ENV_LEN]!;
    const fault = checkEnvelopeFraming(input, env, len);
    if (fault !== null) status[i] = FRAMING_STATUS[fault];
    else {
      const rid = readU32(input, env + 2);
      if (keys.get(rid) === undefined) {
        status[i] = ST_UNKNOWN_KEY_ID;
        continue;
      }
      const aad = desc[d + RS_RAFT_AAD]!;
      // RE-2: 'R' ‖ version ‖ key_id, rebuilt from the decoded header; 'R' keeps storage
      // envelopes from opening here (RE-7).
      input[aad] = RAFT_AAD_PURPOSE;
      input[aad + 1] = ENVELOPE_VERSION;
      input.copyWithin(aad + 2, env + 2, env + 6);
      let g = groups.get(rid);
      if (g === undefined) {
        g = [];
        groups.set(rid, g);
      }
      g.push(i);
    }
  }

  const scratchOff = t.header[H_SCRATCH_OFF]!;
  const storeOff = t.header[H_STORE_OFF]!;
  const plainRegion = out.subarray(0, scratchOff);
  const opened: number[] = [];
  for (const [rid, idx] of groups) {
    const n = idx.length;
    const od = new Uint32Array(n * DESC_FIELDS);
    for (let k = 0, o = 0; k < n; k++, o += DESC_FIELDS) {
      const d = idx[k]! * RS_FIELDS;
      const env = desc[d + RS_ENV]!;
      od[o] = env + ENV_NONCE_OFFSET;
      od[o + 1] = desc[d + RS_RAFT_AAD]!;
      od[o + 2] = RAFT_AAD_SIZE;
      od[o + 3] = env + ENVELOPE_HEADER_SIZE;
      od[o + 4] = desc[d + RS_ENV_LEN]! - ENVELOPE_HEADER_SIZE;
      od[o + 5] = desc[d + RS_PLAIN]!;
    }
    const st = new Uint8Array(n);
    aead.openPacked(keys.get(rid)!, { count: n, input, desc: od, output: plainRegion }, st);
    for (let k = 0; k < n; k++) {
      const i = idx[k]!;
      if (st[k] === 1) opened.push(i);
      else {
        status[i] = ST_INTEGRITY;
        const d = i * RS_FIELDS;
        const p = desc[d + RS_PLAIN]!;
        plainRegion.fill(0, p, p + desc[d + RS_ENV_LEN]! - ENVELOPE_OVERHEAD);
      }
    }
  }
  if (opened.length === 0) return;

  // The seal reads the payloads (plaintext region) and a copy of each item's storage AAD and
  // nonce (scratch region, right after it) and writes the envelopes to the disjoint store
  // region, so no backend ever sees overlapping input and output.
  opened.sort((a, b) => a - b);
  const sealIn = out.subarray(0, storeOff);
  const sealOut = out.subarray(storeOff);
  const n = opened.length;
  const sd = new Uint32Array(n * DESC_FIELDS);
  let scratch = scratchOff;
  for (let k = 0, o = 0; k < n; k++, o += DESC_FIELDS) {
    const d = opened[k]! * RS_FIELDS;
    const saad = desc[d + RS_SAAD]!;
    const saadLen = desc[d + RS_SAAD_LEN]!;
    const nonceAt = desc[d + RS_SNONCE]!;
    const nonce = input.subarray(nonceAt, nonceAt + NONCE_SIZE);
    sd[o] = scratch;
    out.set(nonce, scratch);
    scratch += NONCE_SIZE;
    sd[o + 1] = scratch;
    sd[o + 2] = saadLen;
    out.set(input.subarray(saad, saad + saadLen), scratch);
    scratch += saadLen;
    sd[o + 3] = desc[d + RS_PLAIN]!;
    sd[o + 4] = desc[d + RS_ENV_LEN]! - ENVELOPE_OVERHEAD;
    const at = desc[d + RS_STORE]! - storeOff;
    sd[o + 5] = at + ENVELOPE_HEADER_SIZE;
    writeEnvelopeHeader(sealOut, at, storageKeyId, nonce);
  }
  aead.sealPacked(storageKey, { count: n, input: sealIn, desc: sd, output: sealOut });
  // The scratch copies are not results; leave no AAD bytes behind in the caller's buffer.
  out.fill(0, scratchOff, storeOff);
  for (let k = 0; k < n; k++) status[opened[k]!] = ST_OK;
}
