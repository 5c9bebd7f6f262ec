// Runs a benchmark script as a child process with its output forwarded line by line as
// progress. Bounded: the child is killed (by its pid) when it outlives `timeoutMs`.

import { spawn } from 'node:child_process';

export interface ChildResult {
  code: number | null;
  signal: string | null;
  /** Last lines of stderr, for the failure reason. */
  stderrTail: string[];
}

export function runChild(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; onLine: (line: string) => void }): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const lines = (onLine: (l: string) => void) => {
      let partial = '';
      return (d: string) => {
        partial += d;
        const ls = partial.split(/\r?\n/);
        partial = ls.pop() ?? '';
        for (const l of ls) if (l.trim()) onLine(l);
      };
    };
    child.stdout.setEncoding('utf8').on('data', lines(opts.onLine));
    child.stderr.setEncoding('utf8').on(
      'data',
      lines((l) => {
        tail.push(l);
        if (tail.length > 10) tail.shift();
        opts.onLine(l);
      }),
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    // A kill on our own exit so an interrupted suite leaves no benchmark running.
    const onExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', onExit);
    child.once('error', (e) => tail.push(String(e)));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      resolve({ code, signal, stderrTail: tail });
    });
  });
}
