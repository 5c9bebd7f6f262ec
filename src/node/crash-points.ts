// Named crash points for crash-recovery tests: `SEALKV_CRASH_POINTS=name1,name2` (read once, at
// start) makes the process SIGKILL itself the first time it reaches one of the named points —
// no cleanup, no flush, exactly what a power cut or `kill -9` leaves behind. Off by default: with
// the variable unset, `crashPoint` is a Set lookup on an empty set.

const armed = new Set(
  (process.env.SEALKV_CRASH_POINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/** Kills the process (SIGKILL) if `name` is armed; otherwise does nothing. */
export function crashPoint(name: string): void {
  if (armed.size > 0 && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}

/** The armed names (for a start-up log line, so a test run shows what it armed). */
export function armedCrashPoints(): string[] {
  return [...armed];
}
