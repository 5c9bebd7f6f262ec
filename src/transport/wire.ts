// Message shapes carried inside peer frames, and their validation.
//
// Frames are small arrays rather than objects: Raft sends many tiny messages and the
// field names would be most of the bytes. Every decoded frame is checked here before the
// transport acts on it, so a peer that sends garbage is disconnected, not trusted.

import {
  ConfigError,
  CryptoError,
  EnvelopeError,
  HaltError,
  ProposalError,
  ProtocolError,
  SealkvError,
  StartupRefusedError,
  TransportError,
} from '../errors.js';

export const WIRE_VERSION = 1;

// A plain object rather than a `const enum`: test transpilers compile files in isolation.
export const Kind = { Msg: 0, Req: 1, ResOk: 2, ResErr: 3, Hello: 9, HelloAck: 10 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export type WireFrame =
  | { kind: typeof Kind.Msg; payload: unknown }
  | { kind: typeof Kind.Req; id: number; payload: unknown }
  | { kind: typeof Kind.ResOk; id: number; payload: unknown }
  | { kind: typeof Kind.ResErr; id: number; error: WireError }
  | { kind: typeof Kind.Hello | typeof Kind.HelloAck; version: number; clusterId: string; nodeId: string };

/** A typed error as it crosses the wire: class name, code, message, optional reason and leader hint. */
export interface WireError {
  cls: string;
  code: string;
  message: string;
  reason?: string;
  leader?: string | null;
}

export const msgFrame = (payload: unknown): unknown[] => [Kind.Msg, payload];
export const reqFrame = (id: number, payload: unknown): unknown[] => [Kind.Req, id, payload];
export const resOkFrame = (id: number, payload: unknown): unknown[] => [Kind.ResOk, id, payload];
export const resErrFrame = (id: number, e: WireError): unknown[] => [
  Kind.ResErr,
  id,
  [e.cls, e.code, e.message, e.reason ?? null, e.leader ?? null],
];
export const helloFrame = (ack: boolean, clusterId: string, nodeId: string): unknown[] => [
  ack ? Kind.HelloAck : Kind.Hello,
  WIRE_VERSION,
  clusterId,
  nodeId,
];

function malformed(what: string): TransportError {
  return new TransportError('FRAME_MALFORMED', `malformed peer frame: ${what}`);
}

// Correlation ids are positive safe integers (a counter that would need 2^53 requests to overflow).
function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/** Validates a decoded frame; throws TransportError(FRAME_MALFORMED) on any other shape. */
export function parseWireFrame(v: unknown): WireFrame {
  if (!Array.isArray(v) || v.length < 2) throw malformed('not a tagged array');
  const kind = v[0];
  switch (kind) {
    case Kind.Msg:
      if (v.length !== 2) throw malformed('message arity');
      return { kind, payload: v[1] };
    case Kind.Req:
    case Kind.ResOk:
      if (v.length !== 3 || !isId(v[1])) throw malformed('request/response header');
      return kind === Kind.Req ? { kind, id: v[1], payload: v[2] } : { kind, id: v[1], payload: v[2] };
    case Kind.ResErr: {
      const e = v[2];
      if (v.length !== 3 || !isId(v[1]) || !Array.isArray(e) || e.length !== 5) throw malformed('error response');
      const [cls, code, message, reason, leader] = e;
      if (typeof cls !== 'string' || typeof code !== 'string' || typeof message !== 'string') {
        throw malformed('error response fields');
      }
      if ((reason !== null && typeof reason !== 'string') || (leader !== null && typeof leader !== 'string')) {
        throw malformed('error response fields');
      }
      const error: WireError = { cls, code, message, leader };
      if (reason !== null) error.reason = reason;
      return { kind, id: v[1], error };
    }
    case Kind.Hello:
    case Kind.HelloAck: {
      const [, version, clusterId, nodeId] = v;
      if (v.length !== 4 || typeof version !== 'number' || typeof clusterId !== 'string' || typeof nodeId !== 'string') {
        throw malformed('handshake');
      }
      return { kind, version, clusterId, nodeId };
    }
    default:
      throw malformed(`unknown kind ${String(kind)}`);
  }
}

/** Turns whatever a request handler threw into its wire form (never a stack, never raw bytes). */
export function toWireError(e: unknown): WireError {
  if (e instanceof SealkvError) {
    const w: WireError = { cls: e.constructor.name, code: e.code, message: e.message };
    if (e.reason !== undefined) w.reason = e.reason;
    if (e instanceof ProposalError) w.leader = e.leader;
    return w;
  }
  return { cls: 'Error', code: 'INTERNAL', message: e instanceof Error ? e.message : 'request handler failed' };
}

type CodedCtor = new (code: string, message: string, details: { reason?: string }) => SealkvError;

// Classes whose constructor is (code, message, details); others come back as SealkvError with the same code.
const REBUILDABLE: Record<string, CodedCtor> = {
  CryptoError: CryptoError as unknown as CodedCtor,
  EnvelopeError: EnvelopeError as unknown as CodedCtor,
  HaltError: HaltError as unknown as CodedCtor,
  StartupRefusedError,
  TransportError,
  ProtocolError,
  ConfigError,
};

/** Rebuilds a typed error on the requesting side, keeping class (where possible), code, reason and leader. */
export function fromWireError(w: WireError): SealkvError {
  const details = w.reason === undefined ? {} : { reason: w.reason };
  if (w.cls === 'ProposalError') {
    return new ProposalError(w.code as ConstructorParameters<typeof ProposalError>[0], w.message, {
      ...details,
      leader: w.leader ?? null,
    });
  }
  const Ctor = REBUILDABLE[w.cls];
  return Ctor ? new Ctor(w.code, w.message, details) : new SealkvError(w.code, w.message, details);
}
