// The writer registration triggers of a running node (WR-5 at process start, WR-6 after a storage
// rotation): when the active storage DEK's registry row of this node is missing or older than the
// epoch this load pinned, propose a `0x03` register-writer entry (through the leader) until it
// commits. The node's client writes wait for it (the gate); reads never do.

import { encodeRegisterWriter } from '../keys/encryption-entries.js';
import { lowNodeId16 } from '../keys/node-identity.js';
import { type RegistryRow, startRegistration } from '../keys/registry-rules.js';
import type { Purpose, Sidecar } from '../keys/sidecar-schema.js';
import { realScheduler, type Scheduler } from '../node/scheduler.js';
import type { EncryptionStateCell } from './state-cell.js';

export interface RegistrarPort {
  /** The committed registry row (dekId, nodeId16) of this node's store. */
  registryRow(dekId: number, nodeId16: number): RegistryRow | undefined;
  /** Proposes an admin entry on the leader (forwarded from a follower); resolves once applied here. */
  submitAdmin(payload: Uint8Array, deadline: number): Promise<void>;
  /** Gates client writes until `p` settles. */
  gateWrites(p: Promise<void>): void;
  log(msg: string, err?: unknown): void;
}

const RETRY_MS = 250;
const ATTEMPT_MS = 5000;

export class WriterRegistrar {
  private running: Promise<void> | null = null;

  constructor(
    private readonly port: RegistrarPort,
    private readonly state: EncryptionStateCell,
    private readonly fullNodeId: bigint,
    private readonly pinnedEpoch: number,
    /** 'raft': the raft wrap gate's registration (WR-8) once the raft cutover is active. */
    private readonly purpose: Purpose = 'storage',
    private readonly sched: Scheduler = realScheduler,
  ) {}

  private activeDek(s: Sidecar): number {
    if (this.purpose === 'raft') return s.raftEnvelopeCutoverIndex !== 0n ? s.active.raft : 0;
    return s.storageEnvelopeActive ? s.active.storage : 0;
  }

  /** True when this node must (re-)register for the active DEK of its purpose before it writes. */
  needed(): boolean {
    const s = this.state.sidecar();
    if (s === undefined) return false;
    const dekId = this.activeDek(s);
    if (dekId === 0) return false;
    const row = this.port.registryRow(dekId, lowNodeId16(this.fullNodeId));
    // A missing row must be written even when this load's epoch is 0 (a node that has not
    // restarted since bootstrap): the WR-10 guard of its next start requires the row.
    if (row === undefined || row.fullNodeId !== this.fullNodeId) return true;
    return startRegistration(row, this.fullNodeId, this.pinnedEpoch) === 'register';
  }

  /** Starts the registration when needed and gates client writes until it has committed. */
  ensure(): void {
    if (this.running !== null || !this.needed()) return;
    const run = this.registerUntilDone().finally(() => {
      this.running = null;
    });
    this.running = run;
    this.port.gateWrites(run);
  }

  private async registerUntilDone(): Promise<void> {
    for (;;) {
      const s = this.state.sidecar();
      if (s === undefined || !this.needed()) return;
      const payload = encodeRegisterWriter({ dekId: this.activeDek(s), fullNodeId: this.fullNodeId, localEpoch: this.pinnedEpoch });
      try {
        await this.port.submitAdmin(payload, this.sched.now() + ATTEMPT_MS);
      } catch (e) {
        this.port.log('writer registration not committed yet; retrying', e);
        await new Promise<void>((r) => this.sched.setTimeout(r, RETRY_MS));
      }
    }
  }
}
