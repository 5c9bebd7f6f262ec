// Wrap-on-propose (PE-5, RE-1, RE-4, RO-12) and the raft wrap gate of WR-8: not registered →
// WRITER_NOT_REGISTERED for everything but this node's own registration (by calling path).
import { describe, expect, it } from 'vitest';
import { mintPersistedEpoch, NonceFactory, parseNonce } from '../../src/crypto/envelope/nonce.js';
import { decodeProposal } from '../../src/crypto/envelope/proposal.js';
import { unwrapRaft } from '../../src/crypto/envelope/raft.js';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { PackScratch } from '../../src/encryption/pack-scratch.js';
import { buildRaftWrap } from '../../src/encryption/raft-wrap.js';
import { generateDek } from '../../src/keys/dek-wrap.js';
import { Proposer } from '../../src/node/proposer.js';

describe('raft wrap', () => {
  it('WR-8/RO-12/PE-5: an unregistered node wraps only its own registration; once registered every path is wrapped after the 9-byte header, in order, under the raft DEK with its raft nonces', async () => {
    const aead = await loadAead('js');
    const keystore = new Keystore();
    keystore.set(12, generateDek());
    const nonces = NonceFactory.fromPersistedEpoch(mintPersistedEpoch({ purpose: 'raft', nodeId16: 0xabcd, localEpoch: 7 }));
    let registered = false;
    const wrap = buildRaftWrap({ aead, keystore, nonces, sealer: null, registered: () => registered, scratch: new PackScratch() }, 12);
    const appended: Uint8Array[] = [];
    const p = new Proposer<string>({ isLeader: () => true, term: () => 1, leader: () => 'n1', transferInProgress: () => false, proposeEntries: (d) => appended.push(...d) });
    p.setWrap(wrap);
    const enc = new TextEncoder();
    await expect(p.propose(enc.encode('SET a 1'))).rejects.toMatchObject({ code: 'WRITER_NOT_REGISTERED' });
    await expect(p.proposeAdmin(enc.encode('rotate'))).rejects.toMatchObject({ code: 'WRITER_NOT_REGISTERED' });
    const reg = p.proposeAdmin(enc.encode('register me'), { registration: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(appended).toHaveLength(1);
    registered = true;
    const users = ['SET b 2', 'SET c 3'].map((x) => p.propose(enc.encode(x)));
    await new Promise((r) => setTimeout(r, 20));
    expect(appended).toHaveLength(3);
    const opened = appended.map((e) => {
      const env = decodeProposal(e).payload;
      expect(e[9]).toBe(0x01); // the raft envelope starts after the 9-byte proposal header
      expect(parseNonce(env.subarray(6, 18))).toMatchObject({ nodeId16: 0xabcd, epoch: 7 });
      return new TextDecoder().decode(unwrapRaft(aead, keystore, env));
    });
    expect(opened).toEqual(['register me', 'SET b 2', 'SET c 3']);
    p.close();
    await Promise.allSettled([reg, ...users]);
  });
});
