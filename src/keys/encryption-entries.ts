// Codecs of the state-machine encryption entries (SPEC FW-1..FW-5). Pure: bytes in, typed value
// out. Every decode error is a KeyError whose code is the ENCRYPTION_APPLY reason of FW-2
// (FSM_WIRE_VERSION, FSM_WIRE_MALFORMED, FSM_WIRE_SUBTAG) or RESERVED_OPCODE (FW-1); the apply
// step turns it into a HALT. All integers are big-endian (C-1). Lengths and counts are checked
// against the bytes remaining before anything is allocated (FW-4).

import { KeyError } from '../errors.js';
import type { Registration } from './registry-rules.js';
import { type Purpose, U16_MAX, U32_MAX, U64_MAX } from './sidecar-schema.js';

export const OP_REGISTER_WRITER = 0x03;
export const OP_BOOTSTRAP = 0x04;
export const OP_ROTATION = 0x05;
export const FSM_WIRE_VERSION = 0x01;

/** FW-5 sub-tags; 0x02 (rewrap-deks) and 0x03 (retire-dek) are reserved and refused. */
export const SUBTAG_ROTATE_DEK = 0x01;
export const SUBTAG_ENABLE_STORAGE_ENVELOPE = 0x04;
export const SUBTAG_ENABLE_RAFT_ENVELOPE = 0x05;
export type RotationSubTag = typeof SUBTAG_ROTATE_DEK | typeof SUBTAG_ENABLE_STORAGE_ENVELOPE | typeof SUBTAG_ENABLE_RAFT_ENVELOPE;
const SUBTAGS: ReadonlySet<number> = new Set([SUBTAG_ROTATE_DEK, SUBTAG_ENABLE_STORAGE_ENVELOPE, SUBTAG_ENABLE_RAFT_ENVELOPE]);

/** FW-4: at most 1 << 14 batch rows. */
export const MAX_BATCH_ROWS = 1 << 14;
const ROW_BYTES = 14; // dek_id u32 ‖ full_node_id u64 ‖ local_epoch u16
export const REGISTER_WRITER_BYTES = 2 + ROW_BYTES;

export interface RegisterWriterEntry {
  readonly kind: 'register-writer';
  readonly registration: Registration;
}

export interface BootstrapEntry {
  readonly kind: 'bootstrap';
  readonly storageDekId: number;
  readonly storageWrapped: Uint8Array;
  readonly raftDekId: number;
  readonly raftWrapped: Uint8Array;
  readonly batch: readonly Registration[];
}

export interface RotationEntry {
  readonly kind: 'rotation';
  readonly subTag: RotationSubTag;
  readonly dekId: number;
  readonly purpose: Purpose;
  /** The KEK-wrapped new DEK (rotate-dek); empty for the two cutovers. */
  readonly wrapped: Uint8Array;
  readonly proposer: Registration;
}

export type EncryptionEntry = RegisterWriterEntry | BootstrapEntry | RotationEntry;

const PURPOSE_BY_WIRE: Readonly<Record<number, Purpose>> = { 1: 'storage', 2: 'raft' };
const WIRE_BY_PURPOSE: Readonly<Record<Purpose, number>> = { storage: 1, raft: 2 };

/** True for the first bytes the encryption handler owns (FW-1). */
export function isEncryptionOpcode(b: number): boolean {
  return b >= 0x03 && b <= 0x07;
}

function malformed(message: string): KeyError {
  return new KeyError('FSM_WIRE_MALFORMED', message);
}

class Reader {
  private off = 0;
  private readonly dv: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  private need(n: number, field: string): void {
    if (this.remaining < n) throw malformed(`${this.what}: truncated at ${field} (offset ${this.off}, ${this.remaining} bytes left)`);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.off++]!;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.dv.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.dv.getUint32(this.off);
    this.off += 4;
    return v;
  }
  u64(field: string): bigint {
    this.need(8, field);
    const v = this.dv.getBigUint64(this.off);
    this.off += 8;
    return v;
  }
  /** A u32 length followed by that many bytes; the length is checked before the copy. */
  lenBytes(field: string): Uint8Array {
    const len = this.u32(`${field} length`);
    if (len > this.remaining) throw malformed(`${this.what}: ${field} length ${len} exceeds the ${this.remaining} bytes remaining`);
    const out = this.buf.slice(this.off, this.off + len);
    this.off += len;
    return out;
  }
  row(field: string): Registration {
    return { dekId: this.u32(`${field} dek_id`), fullNodeId: this.u64(`${field} full_node_id`), localEpoch: this.u16(`${field} local_epoch`) };
  }
  end(): void {
    if (this.remaining !== 0) throw malformed(`${this.what}: ${this.remaining} trailing bytes`);
  }
}

/** FW-2: opcode and wire version; returns a reader positioned at the body. */
function header(payload: Uint8Array, opcode: number, what: string): Reader {
  const r = new Reader(payload, what);
  if (r.u8('opcode') !== opcode) throw malformed(`${what}: opcode is not 0x${opcode.toString(16).padStart(2, '0')}`);
  const v = r.u8('wire version');
  if (v !== FSM_WIRE_VERSION) throw new KeyError('FSM_WIRE_VERSION', `${what}: wire version ${v} is not supported (expected 1)`);
  return r;
}

/** FW-3 */
export function decodeRegisterWriter(payload: Uint8Array): RegisterWriterEntry {
  const r = header(payload, OP_REGISTER_WRITER, 'register-writer entry');
  if (r.remaining !== ROW_BYTES) throw malformed(`register-writer entry: body of ${r.remaining + 1} bytes after the opcode, expected 15`);
  return { kind: 'register-writer', registration: r.row('registration') };
}

/** FW-4 */
export function decodeBootstrap(payload: Uint8Array): BootstrapEntry {
  const r = header(payload, OP_BOOTSTRAP, 'bootstrap entry');
  const storageDekId = r.u32('storage_dek_id');
  const storageWrapped = r.lenBytes('storage wrapped DEK');
  const raftDekId = r.u32('raft_dek_id');
  const raftWrapped = r.lenBytes('raft wrapped DEK');
  const count = r.u32('count');
  if (count > MAX_BATCH_ROWS) throw malformed(`bootstrap entry: batch count ${count} exceeds ${MAX_BATCH_ROWS}`);
  if (count * ROW_BYTES !== r.remaining) throw malformed(`bootstrap entry: batch count ${count} needs ${count * ROW_BYTES} bytes, ${r.remaining} remain`);
  const batch: Registration[] = [];
  for (let i = 0; i < count; i++) batch.push(r.row(`batch row ${i}`));
  r.end();
  return { kind: 'bootstrap', storageDekId, storageWrapped, raftDekId, raftWrapped, batch };
}

/** FW-5 */
export function decodeRotation(payload: Uint8Array): RotationEntry {
  const r = header(payload, OP_ROTATION, 'rotation entry');
  const subTag = r.u8('sub_tag');
  if (!SUBTAGS.has(subTag)) throw new KeyError('FSM_WIRE_SUBTAG', `rotation entry: sub-tag 0x${subTag.toString(16).padStart(2, '0')} is not supported`);
  const dekId = r.u32('dek_id');
  const p = r.u8('purpose');
  const purpose = PURPOSE_BY_WIRE[p];
  if (purpose === undefined) throw malformed(`rotation entry: purpose ${p} is not 1 (storage) or 2 (raft)`);
  const wrapped = r.lenBytes('wrapped DEK');
  const proposer = r.row('proposer');
  r.end();
  return { kind: 'rotation', subTag: subTag as RotationSubTag, dekId, purpose, wrapped, proposer };
}

/** FW-1 dispatch over `0x03..0x07`; `0x06`/`0x07` → RESERVED_OPCODE. */
export function decodeEncryptionEntry(payload: Uint8Array): EncryptionEntry {
  const op = payload.length > 0 ? payload[0]! : -1;
  switch (op) {
    case OP_REGISTER_WRITER:
      return decodeRegisterWriter(payload);
    case OP_BOOTSTRAP:
      return decodeBootstrap(payload);
    case OP_ROTATION:
      return decodeRotation(payload);
    case 0x06:
    case 0x07:
      throw new KeyError('RESERVED_OPCODE', `encryption opcode 0x0${op} is reserved`);
    default:
      throw malformed(`payload opcode ${op} is not an encryption entry`);
  }
}

// ---- encoders (the leader's handlers; inputs are checked, a bad one is a bug → RangeError) ----

function checkRow(reg: Registration, what: string): void {
  if (!Number.isInteger(reg.dekId) || reg.dekId < 0 || reg.dekId > U32_MAX) throw new RangeError(`${what}: dek_id is not a u32`);
  if (typeof reg.fullNodeId !== 'bigint' || reg.fullNodeId < 0n || reg.fullNodeId > U64_MAX) throw new RangeError(`${what}: full_node_id is not a u64`);
  if (!Number.isInteger(reg.localEpoch) || reg.localEpoch < 0 || reg.localEpoch > U16_MAX) throw new RangeError(`${what}: local_epoch is not a u16`);
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new RangeError(`${what} is not a u32`);
}

class Writer {
  readonly buf: Uint8Array;
  private readonly dv: DataView;
  private off = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  u8(v: number): this {
    this.buf[this.off++] = v;
    return this;
  }
  u16(v: number): this {
    this.dv.setUint16(this.off, v);
    this.off += 2;
    return this;
  }
  u32(v: number): this {
    this.dv.setUint32(this.off, v);
    this.off += 4;
    return this;
  }
  u64(v: bigint): this {
    this.dv.setBigUint64(this.off, v);
    this.off += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.off);
    this.off += b.length;
    return this;
  }
  row(r: Registration): this {
    return this.u32(r.dekId).u64(r.fullNodeId).u16(r.localEpoch);
  }
}

export function encodeRegisterWriter(reg: Registration): Uint8Array {
  checkRow(reg, 'register-writer');
  return new Writer(REGISTER_WRITER_BYTES).u8(OP_REGISTER_WRITER).u8(FSM_WIRE_VERSION).row(reg).buf;
}

export function encodeBootstrap(e: Omit<BootstrapEntry, 'kind'>): Uint8Array {
  checkU32(e.storageDekId, 'storage_dek_id');
  checkU32(e.raftDekId, 'raft_dek_id');
  if (e.batch.length > MAX_BATCH_ROWS) throw new RangeError(`bootstrap batch of ${e.batch.length} rows exceeds ${MAX_BATCH_ROWS}`);
  for (const [i, r] of e.batch.entries()) checkRow(r, `batch row ${i}`);
  const w = new Writer(2 + 8 + e.storageWrapped.length + 8 + e.raftWrapped.length + 4 + e.batch.length * ROW_BYTES);
  w.u8(OP_BOOTSTRAP).u8(FSM_WIRE_VERSION);
  w.u32(e.storageDekId).u32(e.storageWrapped.length).bytes(e.storageWrapped);
  w.u32(e.raftDekId).u32(e.raftWrapped.length).bytes(e.raftWrapped);
  w.u32(e.batch.length);
  for (const r of e.batch) w.row(r);
  return w.buf;
}

export function encodeRotation(e: Omit<RotationEntry, 'kind'>): Uint8Array {
  if (!SUBTAGS.has(e.subTag)) throw new RangeError(`sub-tag ${e.subTag} is not supported`);
  checkU32(e.dekId, 'dek_id');
  if (WIRE_BY_PURPOSE[e.purpose] === undefined) throw new RangeError(`purpose ${String(e.purpose)} is not storage or raft`);
  checkRow(e.proposer, 'proposer');
  const w = new Writer(2 + 1 + 4 + 1 + 4 + e.wrapped.length + ROW_BYTES);
  w.u8(OP_ROTATION).u8(FSM_WIRE_VERSION).u8(e.subTag).u32(e.dekId).u8(WIRE_BY_PURPOSE[e.purpose]);
  w.u32(e.wrapped.length).bytes(e.wrapped).row(e.proposer);
  return w.buf;
}

export function encodeEncryptionEntry(e: EncryptionEntry): Uint8Array {
  switch (e.kind) {
    case 'register-writer':
      return encodeRegisterWriter(e.registration);
    case 'bootstrap':
      return encodeBootstrap(e);
    case 'rotation':
      return encodeRotation(e);
  }
}
