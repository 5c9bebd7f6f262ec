// JSON Schema of results.json and a small validator for the subset of JSON Schema it uses (type,
// properties, required, additionalProperties, items, enum, minimum, minLength, pattern, $ref into
// $defs). Hand-written so the suite needs no schema library; the schema itself is written next
// to every results.json, so other tools can validate with a full implementation.

import { RESULTS_SCHEMA_ID, RESULTS_SCHEMA_VERSION } from './results.js';

export type JsonSchema = {
  $schema?: string;
  $id?: string;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  description?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: (string | number | boolean | null)[];
  const?: string | number;
  minimum?: number;
  minLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
};

const num: JsonSchema = { type: 'number', minimum: 0 };
const int: JsonSchema = { type: 'integer', minimum: 0 };
const str: JsonSchema = { type: 'string', minLength: 1 };
const counts: JsonSchema = { type: 'object', additionalProperties: int };

const latency: JsonSchema = {
  type: 'object',
  description: 'Latency percentiles in microseconds (HDR histogram, 3 significant digits).',
  required: ['count', 'meanUs', 'p50Us', 'p99Us', 'p999Us', 'maxUs'],
  additionalProperties: false,
  properties: { count: int, meanUs: num, p50Us: num, p99Us: num, p999Us: num, maxUs: num },
};

export const RESULTS_SCHEMA: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `${RESULTS_SCHEMA_ID}/v${RESULTS_SCHEMA_VERSION}`,
  description: 'sealkv benchmark suite results (bench/results/<timestamp>/results.json)',
  type: 'object',
  required: ['schema', 'schemaVersion', 'mode', 'startedAt', 'finishedAt', 'durationS', 'argv', 'machine', 'sections', 'charts', 'pending'],
  additionalProperties: false,
  properties: {
    schema: { const: RESULTS_SCHEMA_ID },
    schemaVersion: { const: RESULTS_SCHEMA_VERSION },
    mode: { enum: ['smoke', 'quick', 'full'] },
    startedAt: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' },
    finishedAt: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' },
    durationS: num,
    argv: { type: 'array', items: { type: 'string' } },
    machine: { $ref: '#/$defs/machine' },
    sections: { type: 'array', items: { $ref: '#/$defs/section' } },
    charts: { type: 'array', items: { $ref: '#/$defs/chart' } },
    pending: { type: 'array', items: { $ref: '#/$defs/pending' } },
  },
  $defs: {
    machine: {
      type: 'object',
      required: ['cpuModel', 'cores', 'cpuFlags', 'memoryGiB', 'platform', 'node', 'openssl', 'loadAvgBefore'],
      additionalProperties: false,
      properties: {
        cpuModel: str,
        cores: { type: 'integer', minimum: 1 },
        cpuFlags: {
          type: 'object',
          required: ['aes', 'vaes', 'pclmulqdq', 'vpclmulqdq', 'avx2', 'avx512f'],
          additionalProperties: false,
          properties: {
            aes: { type: 'boolean' },
            vaes: { type: 'boolean' },
            pclmulqdq: { type: 'boolean' },
            vpclmulqdq: { type: 'boolean' },
            avx2: { type: 'boolean' },
            avx512f: { type: 'boolean' },
          },
        },
        memoryGiB: num,
        platform: str,
        node: { type: 'string', pattern: '^v\\d+\\.\\d+\\.\\d+' },
        openssl: str,
        loadAvgBefore: { type: 'array', items: num, minItems: 3, maxItems: 3 },
      },
    },
    figure: {
      type: 'object',
      required: ['id', 'label', 'value', 'unit', 'better'],
      additionalProperties: false,
      properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_.:+-]+$' }, label: str, value: { type: 'number' }, unit: { type: 'string' }, better: { enum: ['lower', 'higher', 'neutral'] } },
    },
    table: {
      type: 'object',
      required: ['title', 'columns', 'rows'],
      additionalProperties: false,
      properties: {
        title: str,
        columns: { type: 'array', items: { type: 'string' }, minItems: 1 },
        rows: { type: 'array', items: { type: 'array', items: { type: ['string', 'number'] } } },
        note: { type: 'string' },
      },
    },
    phase: {
      type: 'object',
      required: ['name', 'startMs', 'stopMs', 'latency', 'throughputPerS', 'errorReplies', 'longestReplyGapMs'],
      additionalProperties: false,
      properties: { name: str, startMs: num, stopMs: num, latency, throughputPerS: num, errorReplies: counts, longestReplyGapMs: num },
    },
    point: {
      type: 'object',
      required: ['tMs', 'latency', 'throughputPerS', 'errorsPerS'],
      additionalProperties: false,
      properties: { tMs: num, latency, throughputPerS: num, errorsPerS: num },
    },
    loadRun: {
      type: 'object',
      required: [
        'backend', 'target', 'connections', 'ratePerS', 'durationMs', 'intervalMs', 'scheduled', 'completed', 'unanswered',
        'errorReplies', 'connectionErrors', 'achievedPerS', 'maxSendLagMs', 'longestReplyGapMs', 'latency', 'phases', 'series',
      ],
      additionalProperties: false,
      properties: {
        backend: str,
        target: { type: 'string', pattern: '^(127\\.0\\.0\\.1|::1|localhost):\\d+$' },
        connections: { type: 'integer', minimum: 1 },
        ratePerS: num,
        durationMs: num,
        intervalMs: num,
        scheduled: int,
        completed: int,
        unanswered: int,
        errorReplies: counts,
        connectionErrors: { type: 'array', items: { type: 'string' } },
        achievedPerS: num,
        maxSendLagMs: num,
        longestReplyGapMs: num,
        latency,
        phases: { type: 'array', items: { $ref: '#/$defs/phase' } },
        series: { type: 'array', items: { $ref: '#/$defs/point' } },
      },
    },
    section: {
      type: 'object',
      required: ['id', 'title', 'status', 'durationS', 'figures', 'tables', 'loadRuns', 'notes'],
      additionalProperties: false,
      properties: {
        id: { type: 'string', pattern: '^[a-z0-9-]+$' },
        title: str,
        status: { enum: ['ok', 'skipped', 'failed'] },
        reason: { type: 'string' },
        durationS: num,
        figures: { type: 'array', items: { $ref: '#/$defs/figure' } },
        tables: { type: 'array', items: { $ref: '#/$defs/table' } },
        loadRuns: { type: 'array', items: { $ref: '#/$defs/loadRun' } },
        notes: { type: 'array', items: { type: 'string' } },
      },
    },
    chart: {
      type: 'object',
      required: ['id', 'section', 'title', 'file'],
      additionalProperties: false,
      properties: { id: str, section: str, title: str, file: { type: 'string', pattern: '^charts/[A-Za-z0-9_.-]+\\.svg$' } },
    },
    pending: {
      type: 'object',
      required: ['id', 'title', 'needs'],
      additionalProperties: false,
      properties: { id: str, title: str, needs: str },
    },
  },
};

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(actual: string, wanted: string): boolean {
  return actual === wanted || (wanted === 'number' && actual === 'integer');
}

/** Every violation of `schema` by `value`, as "path: problem" lines; empty when valid. */
export function validateAgainst(schema: JsonSchema, value: unknown, root: JsonSchema = schema, path = '$'): string[] {
  if (schema.$ref !== undefined) {
    const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    const target = m ? root.$defs?.[m[1]!] : undefined;
    if (!target) return [`${path}: unresolvable $ref ${schema.$ref}`];
    return validateAgainst(target, value, root, path);
  }
  const errs: string[] = [];
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const wanted = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!wanted.some((w) => typeMatches(t, w))) return [`${path}: expected ${wanted.join('|')}, got ${t}`];
  }
  if (t === 'number' && !Number.isFinite(value)) errs.push(`${path}: not a finite number`);
  if (schema.const !== undefined && value !== schema.const) errs.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (schema.enum !== undefined && !schema.enum.includes(value as string)) errs.push(`${path}: must be one of ${schema.enum.join(', ')}`);
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) errs.push(`${path}: below minimum ${schema.minimum}`);
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) errs.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) errs.push(`${path}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errs.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items) for (const [i, v] of value.entries()) errs.push(...validateAgainst(schema.items, v, root, `${path}[${i}]`));
  }
  if (t === 'object') {
    const obj = value as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in obj)) errs.push(`${path}: missing ${k}`);
    for (const [k, v] of Object.entries(obj)) {
      const p = schema.properties?.[k];
      if (p) errs.push(...validateAgainst(p, v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: unexpected property ${k}`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...validateAgainst(schema.additionalProperties, v, root, `${path}.${k}`));
    }
  }
  return errs;
}

/** Violations of the results.json schema; empty when `value` is a valid results document. */
export function validateResults(value: unknown): string[] {
  return validateAgainst(RESULTS_SCHEMA, value);
}
