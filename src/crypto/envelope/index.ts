// sealkv/envelope: proposal, raft and storage envelopes, their AAD builders, the value header
// and the nonce factory (DESIGN.md §4). Imports nothing of ours beyond crypto/ and errors.

export {
  ENV_KEY_ID_OFFSET,
  ENV_NONCE_OFFSET,
  ENVELOPE_FLAG_NONE,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_OVERHEAD,
  ENVELOPE_VERSION,
  type ParsedEnvelope,
  parseEnvelope,
  writeEnvelopeHeader,
} from './framing.js';
export * from './nonce.js';
export * from './proposal.js';
export * from './raft.js';
export * from './storage.js';
export * from './value-header.js';
export { Keystore } from '../keystore.js';
export type { KeyLookup, KeystoreChange, KeystoreListener } from '../keystore.js';
export { CryptoError, EnvelopeError, IntegrityError } from '../../errors.js';
