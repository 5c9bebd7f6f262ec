// SCAN cursors: the last key returned, spelled as a decimal numeral so that clients which
// parse cursors as integers (redis-py, redis-cli) keep working: "1" followed by each key byte
// as three digits. "0" starts and ends an iteration. Linear to encode and decode.

/** The cursor naming "continue after `key`"; "0" for null (start / done). */
export function encodeScanCursor(key: Uint8Array | null): string {
  if (key === null) return '0';
  let s = '1';
  for (const b of key) s += b < 10 ? `00${b}` : b < 100 ? `0${b}` : `${b}`;
  return s;
}

/** The key a cursor continues after; null for "0"; undefined when the cursor is not valid. */
export function decodeScanCursor(cursor: Uint8Array): Uint8Array | null | undefined {
  if (cursor.length === 1 && cursor[0] === 0x30) return null;
  if (cursor.length === 0 || cursor[0] !== 0x31 || (cursor.length - 1) % 3 !== 0) return undefined;
  const out = new Uint8Array((cursor.length - 1) / 3);
  for (let i = 0; i < out.length; i++) {
    let v = 0;
    for (let j = 0; j < 3; j++) {
      const d = cursor[1 + i * 3 + j]! - 0x30;
      if (d < 0 || d > 9) return undefined;
      v = v * 10 + d;
    }
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}
