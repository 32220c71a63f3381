// A UDP port nobody uses right now on `host` (bound, read, released): for peers that must be
// told their port before they start (ngtcp2's examples, nginx, the interop servers).
import { createSocket } from 'node:dgram';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, host, r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
