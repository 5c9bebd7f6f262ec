// ConfChange ⇄ entry bytes. A tiny fixed layout (no dependency): type u8, node length u16 BE,
// node UTF-8, context length u32 BE, context.

import type { ConfChange, ConfChangeType } from './types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const node = enc.encode(cc.node);
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(1 + 2 + node.length + 4 + ctx.length);
  const dv = new DataView(out.buffer);
  out[0] = cc.type;
  dv.setUint16(1, node.length);
  out.set(node, 3);
  dv.setUint32(3 + node.length, ctx.length);
  out.set(ctx, 7 + node.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 7) throw new RangeError('raft: conf change entry too short');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nodeLen = dv.getUint16(1);
  if (data.length < 7 + nodeLen) throw new RangeError('raft: conf change entry truncated');
  const ctxLen = dv.getUint32(3 + nodeLen);
  if (data.length !== 7 + nodeLen + ctxLen) throw new RangeError('raft: conf change entry has a bad length');
  const cc: ConfChange = { type: data[0] as ConfChangeType, node: dec.decode(data.subarray(3, 3 + nodeLen)) };
  if (ctxLen > 0) cc.context = data.slice(7 + nodeLen);
  return cc;
}
