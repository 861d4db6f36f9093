import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';

import { addressRefusal, guardedLookup, RefusedAddress, type Resolve, urlHost } from './url-safety';

/**
 * POSTs webhook bodies through HTTP agents whose `lookup` is the address policy's: a host name is
 * resolved once, where the connection is made, and only to addresses the policy allows, so no
 * answer given after a check can slip in (DNS rebinding). An IP literal never reaches `lookup`: it
 * is checked before the request. Each connection's peer is checked again once connected. Redirects
 * are never followed: a 3xx is an answer like any other non-2xx.
 */
export class WebhookHttp {
  private readonly agents: { 'http:': http.Agent; 'https:': https.Agent };

  constructor(
    private readonly allowPrivate: boolean,
    resolve?: Resolve,
  ) {
    const lookup = guardedLookup(allowPrivate, resolve) as unknown as http.AgentOptions['lookup'];
    this.agents = {
      'http:': new http.Agent({ keepAlive: true, lookup }),
      'https:': new https.Agent({ keepAlive: true, lookup }),
    };
  }

  /** Sends `body`; resolves with the status code. Rejects with RefusedAddress before connecting. */
  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
    const target = new URL(url);
    const host = urlHost(target);
    if (isIP(host)) {
      const refusal = addressRefusal(host, this.allowPrivate);
      if (refusal) return Promise.reject(new RefusedAddress(refusal));
    }
    const protocol = target.protocol === 'https:' ? 'https:' : 'http:';
    const request = protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        target,
        {
          method: 'POST',
          agent: this.agents[protocol],
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res) => {
          res.on('error', reject);
          res.resume(); // the body is not needed; reading it lets the connection be reused
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.on('socket', (socket: Socket) => {
        if (!socket.connecting) return; // a kept-alive connection, checked when it was made
        socket.once('connect', () => {
          const refusal = addressRefusal(socket.remoteAddress ?? '', this.allowPrivate);
          if (refusal) socket.destroy(new RefusedAddress(`connected to ${refusal}`));
        });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}
