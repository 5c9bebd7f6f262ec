// Issue 9, defect 5 (HALT edges, run-loop side): a Ready whose snapshot install is in progress
// when the loop is stopped by a HALT must not go on to persist, acknowledge or advance, and the
// install hook is told to abort.

import { describe, expect, it, vi } from 'vitest';
import { RunLoop, type RunLoopHooks } from '../../src/node/run-loop.js';
import type { RaftNode } from '../../src/raft/index.js';
import { MessageType, type Ready, Role } from '../../src/raft/types.js';
import type { LmdbLogStorage } from '../../src/storage/index.js';

function snapReady(): Ready {
  return {
    softState: null,
    hardState: { term: 2, vote: null, commit: 10 },
    entries: [],
    snapshot: { meta: { index: 10, term: 2, conf: { voters: ['n1', 'n2'], learners: [] } }, data: new Uint8Array(0) },
    committedEntries: [],
    messages: [],
    messagesAfterPersist: [{ type: MessageType.AppResp, from: 'n2', to: 'n1', term: 2, index: 10 }],
    readStates: [],
  };
}

describe('run loop', () => {
  it('defect 9.5: a HALT during a snapshot install stops the Ready: no persist, no ack, no advance, install aborted', async () => {
    let handed = false;
    const advance = vi.fn();
    const raft = {
      id: 'n2',
      tick: () => undefined,
      step: () => undefined,
      ready: () => {
        if (handed) return null;
        handed = true;
        return snapReady();
      },
      advance,
      status: () => ({ role: Role.Follower }),
    } as unknown as RaftNode;
    const persist = vi.fn(async () => undefined);
    const log = { persist } as unknown as LmdbLogStorage;

    let release!: () => void;
    const installing = new Promise<void>((r) => {
      release = r;
    });
    let seenSignal: AbortSignal | null = null;
    let installStarted!: () => void;
    const started = new Promise<void>((r) => {
      installStarted = r;
    });
    const sent: unknown[] = [];
    const fatal = vi.fn();
    const hooks: RunLoopHooks = {
      send: (m) => sent.push(m),
      sendSnapshot: () => undefined,
      installSnapshot: async (_meta, signal?: AbortSignal) => {
        seenSignal = signal ?? null;
        installStarted();
        await installing;
      },
      committed: () => undefined,
      readState: () => undefined,
      softState: () => undefined,
      fatal,
    };
    const loop = new RunLoop(raft, log, hooks, 1_000_000);
    loop.kick();
    await started;
    loop.stop(); // what ClusterNode.onHalt does
    release();
    await new Promise((r) => setTimeout(r, 20));

    expect(persist, 'persisted the snapshot Ready after the halt').not.toHaveBeenCalled();
    expect(sent, 'acknowledged the snapshot after the halt').toEqual([]);
    expect(advance).not.toHaveBeenCalled();
    expect(fatal).not.toHaveBeenCalled();
    expect(seenSignal, 'the install hook gets an abort signal').not.toBeNull();
    expect(seenSignal!.aborted).toBe(true);
  });
});
