import { byId } from './dom';

/**
 * The API key panel. It opens by itself when the server answers 401, and from the header button.
 * The key goes to session storage (see `apiKeyStore`), never into the address.
 */
export class ApiKeyPanel {
  private readonly panel = byId('key-panel');
  private readonly reason = byId('key-reason');
  private readonly input = byId<HTMLInputElement>('key-input');
  private readonly toggle = byId<HTMLButtonElement>('key-button');

  constructor(onKey: (key: string | undefined) => void) {
    byId<HTMLFormElement>('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = this.input.value.trim();
      if (!key) return this.input.focus();
      this.input.value = '';
      this.close();
      onKey(key);
    });
    byId('key-forget').addEventListener('click', () => {
      this.input.value = '';
      onKey(undefined);
    });
    this.toggle.setAttribute('aria-expanded', 'false');
    this.toggle.addEventListener('click', () => (this.panel.hidden ? this.open() : this.close()));
  }

  /** Opens the panel, saying why (e.g. the server's 401 message). */
  open(reason = 'Enter an API key for this server.'): void {
    this.reason.textContent = reason;
    this.panel.hidden = false;
    this.toggle.setAttribute('aria-expanded', 'true');
    this.input.focus();
  }

  close(): void {
    this.panel.hidden = true;
    this.toggle.setAttribute('aria-expanded', 'false');
  }

  /** Shows on the header button whether a key is in use. */
  setHasKey(hasKey: boolean): void {
    this.toggle.textContent = hasKey ? 'API key ✓' : 'API key';
  }
}
