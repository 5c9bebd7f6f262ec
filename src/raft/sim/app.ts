// The simulated application state machine: it only chains a hash over every applied entry, so
// two replicas that applied different entries anywhere below an index disagree at that index.
// Its state (applied index, chain, configuration) is durable in the sim: it is written with
// each apply, like the real node's LMDB transaction that carries the applied index.

import type { ConfState, Entry } from '../types.js';

export interface AppState {
  applied: number;
  chain: number;
  conf: ConfState;
}

export function mixEntry(chain: number, e: Entry): number {
  let h = (chain ^ 0x811c9dc5) >>> 0;
  h = Math.imul(h ^ e.term, 0x01000193);
  h = Math.imul(h ^ e.type, 0x01000193);
  const d = e.data;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}

/** Identity of an entry's content (proposal payloads are unique in the sim). */
export function entryIdent(e: Entry): string {
  let s = `${e.type}:`;
  for (let i = 0; i < e.data.length; i++) s += String.fromCharCode(e.data[i]!);
  return s;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeApp(s: AppState): Uint8Array {
  return enc.encode(JSON.stringify(s));
}

export function decodeApp(b: Uint8Array): AppState {
  return JSON.parse(dec.decode(b)) as AppState;
}
