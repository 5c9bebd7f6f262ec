// WebAssembly entry points of the constant-time AES-256-GCM backend.
//
// The host (src/crypto/backends/wasm.ts) owns the memory layout above scratchEnd(): key slots
// and a batch region it grows with memory.grow. One call runs a whole batch: items are
// described by DESC_FIELDS (6) u32 each, offsets relative to the input and output bases,
// exactly the PackedBatch layout of src/crypto/aead.ts. The host validates every offset and
// length before calling; WebAssembly bounds checks keep any mistake inside linear memory.

import { encrypt8 } from './aes';
import { expandKey as expandSchedule } from './aes';
import {
  openItem,
  SCR_KS,
  SCR_TMP,
  SCR_X,
  SCR_ZERO,
  SCRATCH,
  SCRATCH_BYTES,
  sealItem,
  SLOT_BYTES,
  SLOT_GH,
  SLOT_KEY,
  SLOT_RK,
} from './gcm';
import { ghashInit } from './ghash';

const DESC_BYTES: usize = 6 * 4;

/** First byte of linear memory the host may use. */
export function scratchEnd(): usize {
  return SCRATCH + SCRATCH_BYTES;
}

/** Size of one key slot (raw key at offset 0, then the expanded schedule and GHASH table). */
export function slotBytes(): usize {
  return SLOT_BYTES;
}

/** Expands the raw key the host wrote at slot + 0 into the slot's AES schedule and H powers. */
export function expandKey(slot: usize): void {
  const rk = slot + SLOT_RK;
  expandSchedule(slot + SLOT_KEY, rk, SCR_TMP);
  memory.fill(SCR_KS, 0, 128);
  encrypt8(rk, SCR_KS); // H = E_K(0^128) in block 0
  ghashInit(slot + SLOT_GH, SCR_KS, SCR_X, SCR_ZERO);
  wipeScratch();
}

/** Seals `count` items; desc u32 fields: nonce, aad, aadLen, data, dataLen, out. */
export function sealBatch(slot: usize, inBase: usize, desc: usize, count: u32, outBase: usize): void {
  for (let i: u32 = 0; i < count; i++) {
    const d = desc + <usize>i * DESC_BYTES;
    sealItem(
      slot,
      inBase + <usize>load<u32>(d, 0),
      inBase + <usize>load<u32>(d, 4),
      <usize>load<u32>(d, 8),
      inBase + <usize>load<u32>(d, 12),
      <usize>load<u32>(d, 16),
      outBase + <usize>load<u32>(d, 20),
    );
  }
  wipeScratch();
}

/** Opens `count` items; status[i] = 1 when item i authenticated, else 0 and its output zeroed. */
export function openBatch(slot: usize, inBase: usize, desc: usize, count: u32, outBase: usize, status: usize): void {
  for (let i: u32 = 0; i < count; i++) {
    const d = desc + <usize>i * DESC_BYTES;
    const ok = openItem(
      slot,
      inBase + <usize>load<u32>(d, 0),
      inBase + <usize>load<u32>(d, 4),
      <usize>load<u32>(d, 8),
      inBase + <usize>load<u32>(d, 12),
      <usize>load<u32>(d, 16),
      outBase + <usize>load<u32>(d, 20),
    );
    store<u8>(status + <usize>i, <u8>ok);
  }
  wipeScratch();
}

/** Zeroes the scratch area (keystream, tag mask, GHASH state, key-schedule temporaries). */
export function wipeScratch(): void {
  memory.fill(SCRATCH, 0, SCRATCH_BYTES);
}
