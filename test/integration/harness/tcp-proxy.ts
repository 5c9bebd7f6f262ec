// A tiny TCP forwarder placed on a peer link so a test can partition the network: `cut()` destroys
// the link's live connections and refuses new ones (accepted then reset at once, as a dropped
// link looks to the dialer), `heal()` lets new connections through again.

import net from 'node:net';

export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private isCut = false;
  /** Connections forwarded since the start (diagnostics: proves a link carried traffic). */
  accepted = 0;
  /** Connections refused while cut. */
  refused = 0;
  private boundPort = 0;

  constructor(
    readonly name: string,
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {
    this.server = net.createServer((client) => this.onClient(client));
  }

  /** Listens on `port` of loopback (0: an ephemeral one); returns the bound port. */
  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as net.AddressInfo).port;
        resolve(this.boundPort);
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  get cut(): boolean {
    return this.isCut;
  }

  /** Live forwarded connections. */
  get open(): number {
    return this.pairs.size;
  }

  /** Drops every live connection and refuses new ones until `heal()`. */
  sever(): void {
    this.isCut = true;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  heal(): void {
    this.isCut = false;
  }

  close(): Promise<void> {
    this.sever();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onClient(client: net.Socket): void {
    client.on('error', () => {});
    if (this.isCut) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    this.accepted++;
    const upstream = net.connect({ port: this.targetPort, host: this.targetHost });
    upstream.on('error', () => {});
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
