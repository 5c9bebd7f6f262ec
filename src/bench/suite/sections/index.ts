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

export const PENDING: PendingSection[] = [];
