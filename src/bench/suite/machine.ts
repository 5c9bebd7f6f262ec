// Facts about the machine a run happened on, recorded in results.json so that two runs can be
// compared knowingly: CPU model and its AES instructions (AES-NI, VAES, VPCLMULQDQ decide what
// the native backend can do), cores, memory, Node and OpenSSL versions, and the load average
// before the run (the machine may be shared).

import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  /** AES-related CPU flags from /proc/cpuinfo; all false where it cannot be read. */
  cpuFlags: { aes: boolean; vaes: boolean; pclmulqdq: boolean; vpclmulqdq: boolean; avx2: boolean; avx512f: boolean };
  memoryGiB: number;
  platform: string;
  node: string;
  openssl: string;
  /** 1, 5 and 15 minute load averages just before the run. */
  loadAvgBefore: [number, number, number];
}

/** The flags line of the first CPU in a /proc/cpuinfo text, as a set. */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  const line = cpuinfo.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  return new Set(line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/) : []);
}

export function machineFacts(): MachineFacts {
  let flags = new Set<string>();
  try {
    flags = parseCpuFlags(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    // Not Linux: the flags stay unknown (false).
  }
  const c = cpus();
  const la = loadavg();
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    cpuFlags: {
      aes: flags.has('aes'),
      vaes: flags.has('vaes'),
      pclmulqdq: flags.has('pclmulqdq'),
      vpclmulqdq: flags.has('vpclmulqdq'),
      avx2: flags.has('avx2'),
      avx512f: flags.has('avx512f'),
    },
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    loadAvgBefore: [r2(la[0] ?? 0), r2(la[1] ?? 0), r2(la[2] ?? 0)],
  };
}
