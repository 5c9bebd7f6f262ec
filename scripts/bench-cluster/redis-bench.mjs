// Runs redis-benchmark (Debian 12 redis-tools 7.0) against one RESP endpoint and parses its CSV
// summary. Since 7.0 redis-benchmark stops at the first error reply ("Error from server: ...",
// exit status 1) and `-e` only prints "WARNING: -e option has no effect", so a run had no error
// replies exactly when it exits 0 with every requested test in the CSV and no error line.

import { runToCompletion } from './procs.mjs';

/**
 * @param {{ endpoint: string, tests: string, dataSize: number, clients: number, requests: number, pipeline: number, log: (m: string) => void }} o
 */
export async function redisBenchmark(o) {
  const i = o.endpoint.lastIndexOf(':');
  const args = [
    '-h', o.endpoint.slice(0, i),
    '-p', o.endpoint.slice(i + 1),
    '-t', o.tests,
    '-d', String(o.dataSize),
    '-c', String(o.clients),
    '-n', String(o.requests),
    '-P', String(o.pipeline),
    '--csv',
  ];
  const command = `redis-benchmark ${args.join(' ')}`;
  o.log(`$ ${command}`);
  const errorLines = [];
  // Through sh, so that the shell's /proc stat line, printed after redis-benchmark has been
  // reaped, gives the client's exact CPU time (cutime + cstime).
  const wrapper = 'redis-benchmark "$@"; rc=$?; echo "CHILD-STAT $(cat /proc/$$/stat)" >&2; exit $rc';
  const r = await runToCompletion('sh', ['-c', wrapper, 'sh', ...args], {
    timeoutMs: 15 * 60_000,
    onLine: (l) => {
      if (/error/i.test(l) && !l.startsWith('"')) {
        errorLines.push(l.trim());
        if (errorLines.length <= 5) o.log(`  ! ${l.trim()}`);
      }
    },
  });
  const rows = {};
  const lines = r.stdout.split(/\r|\n/).filter((l) => l.startsWith('"'));
  const header = lines.find((l) => l.startsWith('"test"'));
  const cols = header ? JSON.parse(`[${header}]`) : [];
  for (const l of lines) {
    if (l === header) continue;
    const v = JSON.parse(`[${l}]`);
    const row = {};
    cols.forEach((c, k) => {
      row[c] = k === 0 ? v[k] : Number(v[k]);
    });
    rows[v[0]] = {
      rps: row.rps,
      avgMs: row.avg_latency_ms,
      minMs: row.min_latency_ms,
      p50Ms: row.p50_latency_ms,
      p95Ms: row.p95_latency_ms,
      p99Ms: row.p99_latency_ms,
      maxMs: row.max_latency_ms,
    };
  }
  // Benign: the node answers CONFIG GET with an empty list, so redis-benchmark cannot print the
  // server's save/appendonly settings; it says so and carries on.
  let clientCpuS = null;
  const statLine = r.stderr.split('\n').find((l) => l.startsWith('CHILD-STAT '));
  if (statLine) {
    const f = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
    clientCpuS = Math.round(((Number(f[13]) + Number(f[14])) / 100) * 100) / 100;
  }
  r.stderr = r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('CHILD-STAT '))
    .join('\n');
  const warnings = r.stderr.split('\n').filter((l) => /^WARNING: Could not fetch server CONFIG/.test(l.trim()));
  const stderrErrors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !warnings.includes(l));
  const expected = o.tests.split(',').map((t) => t.toUpperCase());
  const missing = expected.filter((t) => !rows[t]);
  const ok = r.code === 0 && errorLines.length === 0 && stderrErrors.length === 0 && missing.length === 0;
  for (const [t, v] of Object.entries(rows)) {
    o.log(`  ${t}: ${v.rps.toFixed(0)} req/s, p50 ${v.p50Ms} ms, p99 ${v.p99Ms} ms, max ${v.maxMs} ms`);
  }
  if (!ok) o.log(`  redis-benchmark exit ${r.code ?? r.signal}; ${errorLines.length} error lines; stderr: ${stderrErrors.slice(0, 3).join(' | ')}; missing: ${missing.join(',')}`);
  return {
    command,
    requestsTotal: o.requests * expected.length,
    exitCode: r.code,
    ok,
    results: rows,
    errorLines: errorLines.slice(0, 20),
    errorLineCount: errorLines.length,
    stderr: stderrErrors.slice(0, 20),
    warnings,
    missingTests: missing,
    clientCpuS,
    wallS: Math.round(r.wallMs) / 1000,
  };
}

/** One redis-cli command; returns trimmed stdout (redis-cli prints error replies as "(error) ..."). */
export async function redisCli(endpoint, args) {
  const i = endpoint.lastIndexOf(':');
  const r = await runToCompletion('redis-cli', ['-h', endpoint.slice(0, i), '-p', endpoint.slice(i + 1), ...args], { timeoutMs: 20_000 });
  return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim() };
}
