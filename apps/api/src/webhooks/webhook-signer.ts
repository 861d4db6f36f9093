import { createHmac } from 'node:crypto';

/**
 * Signs a payload per the Standard Webhooks spec: `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "<msg id>.<unix seconds>.<body>">`, keyed with the base64 part of a `whsec_…` secret.
 */
export class WebhookSigner {
  private readonly key: Buffer;

  constructor(secret: string) {
    const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
    this.key = Buffer.from(encoded, 'base64');
    if (this.key.length < 16) throw new Error('webhook secret must be at least 16 bytes (whsec_<base64>)');
  }

  headers(msgId: string, timestampS: number, body: string): Record<string, string> {
    const signature = createHmac('sha256', this.key)
      .update(`${msgId}.${timestampS}.${body}`)
      .digest('base64');
    return {
      'webhook-id': msgId,
      'webhook-timestamp': String(timestampS),
      'webhook-signature': `v1,${signature}`,
    };
  }
}
