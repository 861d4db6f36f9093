import { Inject, Injectable } from '@nestjs/common';

import { webhookUrlProblem } from './url-safety';
import { WEBHOOK_OPTIONS, type WebhookOptions } from './webhook-delivery.service';

/** Whether a create request may name a `webhook_url`, and which. */
@Injectable()
export class WebhookPolicy {
  constructor(@Inject(WEBHOOK_OPTIONS) private readonly options: WebhookOptions) {}

  get enabled(): boolean {
    return Boolean(this.options.secret);
  }

  /** Why `url` cannot be used as a webhook on this server, or null. */
  async urlProblem(url: string): Promise<string | null> {
    if (!this.enabled) return 'webhooks are not enabled on this server (T2V_WEBHOOK_SECRET is not set)';
    return webhookUrlProblem(url, this.options.allowPrivate, this.options.resolve);
  }
}
