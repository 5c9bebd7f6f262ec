// The apply-time wrap installer (SPEC WI-1..WI-7, RO-11): called on every replica when the raft
// marker applies (fresh or already-active branch), when a raft rotate-dek applies under an active
// cutover, and at start-up from the sidecar. It builds the wrap for the CURRENT active raft DEK,
// publishes it in the proposer, and only then stores the cutover in the engine's cell (WI-5), so
// entry N+1 is unwrapped and every later proposal of this process is wrapped.

import type { WrapFn } from '../node/proposer.js';

export interface WrapInstallerPort {
  /** Builds the wrap for raft DEK `dekId` (throws when the cipher or the DEK is missing). */
  buildWrap(dekId: number): WrapFn;
  /** The proposer's `setWrap`. */
  publishWrap(wrap: WrapFn): void;
  /** The engine's cutover cell. */
  setCutover(index: bigint): void;
}

export class WrapInstaller {
  private installed: { cutover: bigint; dekId: number } | null = null;

  constructor(private readonly port: WrapInstallerPort) {}

  /** Idempotent: the same (cutover, DEK) twice leaves the published wrap alone (WI-1). */
  install(cutoverIndex: bigint, activeRaftDekId: number): void {
    if (cutoverIndex === 0n) throw new Error('raft-envelope installer called with cutover index 0');
    if (activeRaftDekId === 0) throw new Error('raft-envelope installer called without an active raft DEK');
    const cur = this.installed;
    if (cur !== null && cur.cutover === cutoverIndex && cur.dekId === activeRaftDekId) return;
    const wrap = this.port.buildWrap(activeRaftDekId);
    this.port.publishWrap(wrap);
    this.port.setCutover(cutoverIndex);
    this.installed = { cutover: cutoverIndex, dekId: activeRaftDekId };
  }

  /** What is installed (null: wrapping is off in this process). */
  current(): { cutover: bigint; dekId: number } | null {
    return this.installed;
  }
}
