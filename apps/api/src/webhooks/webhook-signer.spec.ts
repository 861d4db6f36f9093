import { Webhook } from 'standardwebhooks';

import { WebhookSigner } from './webhook-signer';

describe('WebhookSigner', () => {
  it('produces signatures the standardwebhooks reference library verifies', () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    const body = JSON.stringify({ type: 'video.completed', data: { id: 'video_1' } });
    const headers = new WebhookSigner(secret).headers('msg_1', Math.floor(Date.now() / 1000), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(secret).verify(body.replace('completed', 'failed'), headers)).toThrow();
  });

  it('refuses short secrets', () => {
    expect(() => new WebhookSigner('whsec_c2hvcnQ=')).toThrow(/at least 16 bytes/);
  });
});
