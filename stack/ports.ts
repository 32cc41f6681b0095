import { createServer } from 'node:net';

/** Ports handed out by this process: the kernel may offer a just-closed one again, and two services would then collide. */
const given = new Set<number>();

/** A TCP port free on loopback right now, and not one this process was given before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
      srv.on('error', reject);
    });
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
}
