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
    id: 'cutover-raft',
    title: 'Across the cutover, raft phases: enable-raft-envelope and a raft rotate-dek in the cutover run (p99 after/before the raft cutover, the raft barrier pause at 2,000 writes/s, wrap latency with a real wrap)',
    needs: 'the raft-envelope cutover (enable-raft-envelope, rotate-dek --purpose raft); then two entries in CUTOVER_STEPS (src/bench/suite/phase-runner.ts)',
  },
  {
    id: 'throughput-both',
    title: 'Cluster throughput with both envelopes, and the native vs js ratio there',
    needs: 'the raft-envelope cutover; then one entry in ENCRYPTION_STEPS (src/bench/suite/sections/cluster-throughput.ts)',
  },
];
