// Free loopback ports for node listeners. The kernel picks an ephemeral port, we release it and
// hand it to a child process; ports handed out by this process are never handed out twice, so
// two nodes of one test cannot collide (another process could still grab one in the gap; the
// node would then refuse to start, and the test fails with that in the node's log).

import net from 'node:net';

const handedOut = new Set<number>();

function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  for (;;) {
    const p = await probe();
    if (!handedOut.has(p)) {
      handedOut.add(p);
      return p;
    }
  }
}
