// Peer addresses by Raft id. Membership (ids) is replicated through the log; addresses travel
// in the conf-change context (and in snapshot headers, for a node that skips those entries by
// installing a snapshot) and are kept here, durably (`<data-dir>/peers.json`, written with
// tmp + fsync + rename + dir fsync), so a restarted node can reach members added after its
// command line was written.

import { join } from 'node:path';
import { type NodeFiles, realFiles } from './node-media.js';

export class AddressBook {
  private readonly path: string;
  private readonly map = new Map<string, string>();
  private readonly initial: ReadonlySet<string>;

  constructor(
    dataDir: string,
    initial: ReadonlyMap<string, string>,
    private readonly files: NodeFiles = realFiles,
  ) {
    this.path = join(dataDir, 'peers.json');
    this.initial = new Set(initial.keys());
    for (const [id, addr] of initial) this.map.set(id, addr);
    try {
      const stored = JSON.parse(files.readText(this.path) ?? '{}') as Record<string, unknown>;
      for (const [id, addr] of Object.entries(stored)) {
        // The command line wins for the ids it names: an operator may have moved a peer.
        if (typeof addr === 'string' && !initial.has(id)) this.map.set(id, addr);
      }
    } catch {
      // No file yet (first start) or unreadable: the command line is the whole book.
    }
  }

  get(id: string): string | undefined {
    return this.map.get(id);
  }

  entries(): Map<string, string> {
    return new Map(this.map);
  }

  set(id: string, addr: string): void {
    if (this.map.get(id) === addr) return;
    this.map.set(id, addr);
    this.save();
  }

  delete(id: string): void {
    if (this.map.delete(id)) this.save();
  }

  /**
   * Adds the addresses a snapshot carries (the command line still wins for the ids it names,
   * as at start-up). Only adds: run before the install, so a crash in between leaves at most
   * an unused address, never a member without one.
   */
  learn(peers: Readonly<Record<string, string>>): void {
    let changed = false;
    for (const [id, addr] of Object.entries(peers)) {
      if (this.initial.has(id) || this.map.get(id) === addr) continue;
      this.map.set(id, addr);
      changed = true;
    }
    if (changed) this.save();
  }

  /** After a snapshot install: forgets the ids that are not members any more (as RemoveNode does). */
  retain(members: readonly string[], self: string): void {
    const keep = new Set([...members, self]);
    let changed = false;
    for (const id of [...this.map.keys()]) {
      if (!keep.has(id)) {
        this.map.delete(id);
        changed = true;
      }
    }
    if (changed) this.save();
  }

  private save(): void {
    this.files.replaceDurably(this.path, JSON.stringify(Object.fromEntries(this.map), null, 2));
  }
}
