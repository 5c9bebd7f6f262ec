// Known defects, re-introducible one at a time for the whole-node simulator (issue 14 acceptance:
// "a simulator that cannot fail proves nothing"). Every switch is off unless the simulator (or a
// test) turns it on; production never does. Each names the fix it undoes.

export const DEFECTS = {
  /** Issue 9 defect 1: the start-up repair of a crash between the install's state and log reset (`finishInstallReset`) is skipped. */
  'install-no-reset-repair': 'a crash mid-snapshot-install leaves applied > commit and the node cannot start',
  /** Issue 9 defect 3: the core is told entries are applied when they are handed to the pipeline, and installs do not wait for it. */
  'applied-early': 'the core is told entries are applied before they are',
  /** Issue 9 defect 5: a snapshot install already running when a HALT fires is finished (and with `applied-early`, can be accepted). */
  'halt-races-snapshot': 'a HALT racing a snapshot install lets the install land after the halt',
  /** Raft-envelope gate `index >= cutover` instead of `>` (the marker itself treated as sealed). */
  'gate-inclusive': 'the apply gate opens the marker entry as if it were wrapped',
  /** RO-7 step 1 forgotten: user proposals are admitted while the barrier is up (cleartext lands above the marker). */
  'barrier-admits-users': 'the cutover barrier admits user proposals between Begin and End',
  /** The installer wraps with the marker's DEK instead of the current (rotated) one. */
  'installer-marker-dek': 'the wrap installer uses the DEK named by the marker',
} as const;

export type DefectName = keyof typeof DEFECTS;

let on: DefectName | null = null;

/** Turns one defect on (null: all off). Simulator and tests only. */
export function setDefect(name: DefectName | null): void {
  on = name;
}

export function defectOn(name: DefectName): boolean {
  return on === name;
}

export function isDefectName(s: string): s is DefectName {
  return Object.hasOwn(DEFECTS, s);
}
