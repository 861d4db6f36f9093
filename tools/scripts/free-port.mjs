// A free TCP port on the loopback interface, for the plain-JavaScript tools (launchers, benches,
// their tests); TypeScript tests use `freePort` from libs/testing.
import * as net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
