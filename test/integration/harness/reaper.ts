// Every node process a test spawns is registered here and SIGKILLed when the test process exits,
// however it exits, so a failed or interrupted test never leaves nodes behind on the machine.

import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', killAll);
  // A signal would otherwise end this process without running 'exit' handlers.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}

export function track(p: ChildProcess): void {
  hook();
  live.add(p);
  p.once('exit', () => live.delete(p));
}

/** Processes still registered (for a sanity check in afterAll). */
export function liveCount(): number {
  return live.size;
}
