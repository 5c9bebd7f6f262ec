// Loopback ports for node listeners and link proxies.
//
// A port handed to a child process is not held while the child starts, so it must be one the
// kernel will not hand to anybody else meanwhile: ports come from below the ephemeral range
// (32768+ on Linux, where `listen(0)` and outgoing connections take theirs), from a slice of
// 1000 owned by this vitest worker (VITEST_POOL_ID), so parallel test files never collide. Within
// the process no port is handed out twice; each is checked bindable before it is handed out.

import net from 'node:net';

const BASE = 20_000;
const SLICE = 1000;
const SLICES = 12; // 20000..31999: below the default ephemeral range

const handedOut = new Set<number>();
const poolId = Number(process.env.VITEST_POOL_ID ?? 0);
const slice = (Number.isInteger(poolId) && poolId > 0 ? poolId - 1 : process.pid) % SLICES;
const first = BASE + slice * SLICE;
// Start at a random offset: consecutive test files in the same pool slot reuse the slice.
let cursor = Math.floor(Math.random() * SLICE);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SLICE; tries++) {
    const port = first + (cursor++ % SLICE);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port left in ${first}..${first + SLICE - 1}`);
}
