// The suite's registered sections, in run order, and the parts that cannot run yet.

import type { PendingSection } from '../results.js';
import type { Section } from '../section.js';
import { cutoverSection } from './cutover.js';
import { microSection } from './micro.js';
import { poolScalingSection } from './pool-scaling.js';
import { clusterThroughputSection } from './cluster-throughput.js';
import { cryptoSection } from './crypto.js';

// The headline (latency under load) first; the micro-benchmarks after it.
export const SECTIONS: Section[] = [cutoverSection, clusterThroughputSection, poolScalingSection, cryptoSection, microSection];

export const PENDING: PendingSection[] = [
  {
    id: 'cutover',
    title: 'Across the cutover (headline): cleartext → enable-storage-envelope → enable-raft-envelope → raft rotate-dek, per backend (native, wasm, js, node), with wrap/apply latency, barrier pause, pool queue depth and main-thread share',
    needs: 'both encryption issues (the envelope cutover admin operations and the wrap/apply metrics in the node)',
  },
  {
    id: 'pool-scaling',
    title: 'Pool scaling: batch size × crypto workers × backend, with the recommended default',
    needs: 'the crypto pool in the node write path (write-path and encryption issues)',
  },
  {
    id: 'cluster-throughput',
    title: 'Closed-loop cluster throughput, 1–256 clients, 64 B–16 KiB, encryption off / storage / both, per backend, with etcd 3.4 as the peer reference (folding in scripts/bench-cluster.mjs)',
    needs: 'per-backend selection and both envelopes in a running node (encryption issues)',
  },
  {
    id: 'profiling',
    title: '--profile: --cpu-prof of every node and the top self-time functions per node',
    needs: 'the cutover and throughput sections above to profile',
  },
  {
    id: 'raft-storage',
    title: 'The raft and storage micro-benchmarks folded into the report (today: npm run bench:raft, npm run bench:storage)',
    needs: 'a short mode in those benchmarks',
  },
];
