// Summarises a V8 .cpuprofile (what `node --cpu-prof` writes): self time per function and per
// area (our code by top-level folder, lmdb, msgpackr, Node internals, GC, idle), from the
// sample stream, so the report can say where the leader's time went.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Where a frame's URL belongs, coarse enough to read at a glance. */
function areaOf(url, fn) {
  if (!url) {
    if (fn === '(idle)') return '(idle)';
    if (fn === '(garbage collector)') return '(garbage collector)';
    if (fn === '(program)') return '(program: native, not attributed)';
    return '(native / builtin)';
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) {
    const rest = url.slice(dist + 6).split('/');
    return `sealkv:${rest.length > 1 ? rest[0] : rest[0].replace(/\.js$/, '')}`;
  }
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url) {
  if (!url) return '';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `dist/${url.slice(dist + 6)}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm);
  return url.replace(/^file:\/\//, '');
}

/**
 * @param {string} file
 * @param {number} [top]
 * @param {{ startBeforeEndMs: number, endBeforeEndMs: number } | null} [window] only samples in
 *   this interval, measured back from the profile's end (the process exit), count: that is how a
 *   wall-clock benchmark window is located in the profile's own monotonic clock.
 */
export function summariseCpuProfile(file, top = 25, window = null) {
  const raw = readFileSync(file);
  // Accepts the gzipped copy the benchmark keeps with its results, for --rebuild.
  const p = JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
  const byId = new Map();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // timeDeltas[i] is the gap before sample i; the time until the next sample belongs to sample i.
  const lo = window ? p.endTime - window.startBeforeEndMs * 1000 : -Infinity;
  const hi = window ? p.endTime - window.endBeforeEndMs * 1000 : Infinity;
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frameKey = (id) => {
    const cf = byId.get(id)?.callFrame ?? {};
    return `${cf.functionName || '(anonymous)'}\u0000${cf.url ?? ''}\u0000${cf.lineNumber ?? -1}`;
  };
  const isIdle = (id) => byId.get(id)?.callFrame?.functionName === '(idle)';
  // Inclusive ("total") time: each function once per sample, however deep it recurs.
  const inclusive = (from, to) => {
    const inc = new Map();
    for (let i = from; i < to; i++) {
      const dt = Math.max(0, deltas[i + 1] ?? 0);
      const seen = new Set();
      for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
        const k = frameKey(id);
        if (seen.has(k)) continue;
        seen.add(k);
        inc.set(k, (inc.get(k) ?? 0) + dt);
      }
    }
    return inc;
  };
  let t = p.startTime;
  let first = -1;
  let last = -1;
  // Busy stretches: runs of consecutive non-idle samples, i.e. the event loop never yielded —
  // every client of this node waited at least that long.
  const stretches = [];
  let runStart = -1;
  let runStartT = 0;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (t < lo || t > hi) continue;
    if (first < 0) first = i;
    last = i;
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
    if (!isIdle(samples[i]) && runStart < 0) {
      runStart = i;
      runStartT = t;
    } else if (isIdle(samples[i]) && runStart >= 0) {
      stretches.push({ ms: (t - runStartT) / 1000, from: runStart, to: i });
      runStart = -1;
    }
  }
  const keyToEntry = (k, us) => {
    const [fn, url, line] = k.split('\u0000');
    return { function: fn, url: shortUrl(url), line: Number(line) + 1, ms: Math.round(us / 100) / 10 };
  };
  const GENERIC = /^\((root|program|idle)\)|^(processTicksAndRejections|processImmediate|listOnTimeout|runMicrotask|runInAsyncScope|emit)$/;
  const topInclusive = (inc, n) =>
    [...inc.entries()]
      .map(([k, us]) => keyToEntry(k, us))
      .filter((e) => !GENERIC.test(e.function))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, n);
  const inclusiveTop = first >= 0 ? topInclusive(inclusive(first, last + 1), top * 3) : [];
  const longestStretches = stretches
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 3)
    .map((s) => ({ ms: Math.round(s.ms), top: topInclusive(inclusive(s.from, s.to), 6) }));
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fnAgg = new Map();
  const areaAgg = new Map();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame ?? {};
    const name = cf.functionName || '(anonymous)';
    const key = `${name}\u0000${cf.url ?? ''}\u0000${cf.lineNumber ?? -1}`;
    const e = fnAgg.get(key) ?? { function: name, url: shortUrl(cf.url), line: (cf.lineNumber ?? -1) + 1, selfMs: 0 };
    e.selfMs += us / 1000;
    fnAgg.set(key, e);
    const area = areaOf(cf.url, name);
    areaAgg.set(area, (areaAgg.get(area) ?? 0) + us / 1000);
  }
  const idleMs = areaAgg.get('(idle)') ?? 0;
  const busyMs = totalUs / 1000 - idleMs;
  const pct = (ms) => Math.round((ms / Math.max(1e-9, busyMs)) * 1000) / 10;
  const round = (x) => Math.round(x * 10) / 10;
  const functions = [...fnAgg.values()]
    .filter((e) => e.function !== '(idle)')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top)
    .map((e) => ({ ...e, selfMs: round(e.selfMs), pctOfBusy: pct(e.selfMs) }));
  const areas = [...areaAgg.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([area, ms]) => ({ area, selfMs: round(ms), pctOfBusy: area === '(idle)' ? null : pct(ms) }));
  return {
    file,
    thread: threadOf(file),
    window,
    durationMs: round((p.endTime - p.startTime) / 1000),
    sampledMs: round(totalUs / 1000),
    idleMs: round(idleMs),
    busyMs: round(busyMs),
    samples: samples.length,
    functions,
    inclusive: inclusiveTop,
    longestBusyStretches: longestStretches,
    areas,
  };
}

/** All .cpuprofile files under a directory (recursively), largest first (the main thread). */
export function findCpuProfiles(dir) {
  const out = [];
  const walk = (d) => {
    let entries = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.cpuprofile')) out.push({ path: p, size: statSync(p).size });
    }
  };
  walk(dir);
  return out.sort((a, b) => b.size - a.size).map((e) => e.path);
}

/** `CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile`: thread 0 is the main thread. */
export function threadOf(file) {
  const m = /\.(\d+)\.(\d+)\.(\d+)\.cpuprofile$/.exec(file);
  if (!m) return 'unknown';
  return m[2] === '0' ? 'main' : `worker tid ${m[2]}`;
}
