// The encryption properties the whole-node simulator checks (issue 14 item 4), over what is on
// the simulated media: no cleartext user entry above a node's raft cutover (every normal entry
// in its WAL above the cutover opens as a raft envelope under a DEK it holds), and no nonce
// used twice under one DEK (nonces collected from the sealed raft entries and the sealed `kv`
// records of every node during the run; the same nonce and key with different ciphertext is a
// repeat).

import type { Aead } from '../crypto/aead.js';
import { parseEnvelope } from '../crypto/envelope/framing.js';
import { decodeProposal } from '../crypto/envelope/proposal.js';
import { unwrapRaft } from '../crypto/envelope/raft.js';
import { STATE_ENCRYPTED, VALUE_HEADER_SIZE, decodeValueHeader } from '../crypto/envelope/value-header.js';
import { EntryType } from '../raft/index.js';
import type { SimMachine } from './sim-machine.js';

/** Nonces seen per (purpose, key id): nonce hex → (a copy of) the sealed bytes first seen with it. */
export class NonceLedger {
  private readonly seen = new Map<string, Uint8Array>();
  private readonly scanned = new Map<string, number>();
  readonly repeats: string[] = [];
  count = 0;

  private note(where: string, purpose: 'raft' | 'storage', sealed: Uint8Array): void {
    let env: ReturnType<typeof parseEnvelope>;
    try {
      env = parseEnvelope(sealed, purpose);
    } catch {
      return;
    }
    const k = `${purpose}:${env.keyId}:${Buffer.from(env.nonce).toString('hex')}`;
    // Compared byte for byte (the same record is seen again at every scan; a digest per look cost more).
    const prev = this.seen.get(k);
    if (prev === undefined) {
      this.seen.set(k, new Uint8Array(sealed)); // a copy (a Buffer's slice would be a view)
      this.count++;
    } else if (!sameBytes(prev, sealed) && this.repeats.length < 5) {
      this.repeats.push(`nonce repeated under ${purpose} DEK ${env.keyId} (${where}): ${k}`);
    }
  }

  /**
   * Reads the sealed records of every live server (its log since the last scan, its `kv` table).
   * Entries a fault corrupted are skipped: a flipped tag is the same nonce over other bytes.
   */
  scan(machines: readonly SimMachine[], corrupted: ReadonlySet<bigint> = new Set()): void {
    for (const m of machines) {
      const node = m.node;
      const rt = m.runtime;
      if (node === null || rt === null) continue;
      const cut = rt.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n;
      if (cut > 0n) {
        const key = `${m.id}#${m.incarnation}`;
        const from = Math.max(node.logStore.firstIndex(), Number(cut) + 1, (this.scanned.get(key) ?? 0) + 1);
        const last = node.logStore.lastIndex();
        if (from <= last) {
          for (const e of node.logStore.entries(from, last + 1, Number.MAX_SAFE_INTEGER)) {
            if (e.type !== EntryType.Normal || e.data.length === 0 || corrupted.has(BigInt(e.index))) continue;
            try {
              this.note(`${m.id} log ${e.index}`, 'raft', decodeProposal(e.data).payload);
            } catch {
              // not a proposal (a corrupted entry): nothing sealed to note
            }
          }
          this.scanned.set(key, last);
        }
      }
      for (const { key, record } of node.readView().range(undefined)) {
        if (record.length <= VALUE_HEADER_SIZE) continue;
        let state: number;
        try {
          state = decodeValueHeader(record).state;
        } catch {
          continue;
        }
        if (state === STATE_ENCRYPTED) this.note(`${m.id} kv ${Buffer.from(key).toString('latin1')}`, 'storage', record.subarray(VALUE_HEADER_SIZE));
      }
    }
  }
}

/** Every normal entry above each live server's raft cutover opens as a raft envelope under one of its DEKs. */
export function noCleartextAboveCutover(machines: readonly SimMachine[], aead: Aead, corrupted: ReadonlySet<bigint>): string[] {
  const out: string[] = [];
  for (const m of machines) {
    const node = m.node;
    const rt = m.runtime;
    if (node === null || rt === null) continue;
    const cut = rt.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n;
    if (cut === 0n) continue;
    const from = Math.max(node.logStore.firstIndex(), Number(cut) + 1);
    const last = node.logStore.lastIndex();
    if (from > last) continue;
    for (const e of node.logStore.entries(from, last + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type !== EntryType.Normal || e.data.length === 0 || corrupted.has(BigInt(e.index))) continue;
      try {
        unwrapRaft(aead, rt.keystore, decodeProposal(e.data).payload);
      } catch (err) {
        out.push(`${m.id}: entry ${e.index} above the raft cutover ${cut} is not a raft envelope it can open (${(err as Error).message})`);
        break;
      }
    }
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
