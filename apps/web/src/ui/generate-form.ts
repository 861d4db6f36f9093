import type { Model, VideoCreateParams } from '@t2v/sdk';

import { byId, el, showMessage } from './dom';
import { ImagePicker } from './image-picker';

type Field = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

/**
 * The prompt form. Its inputs are named after the API's fields, so an error's `param` finds the
 * input to mark. The browser's own validation is off (`novalidate`): the server is the judge, and
 * its message, naming the field, is what the user sees.
 */
export class GenerateForm {
  readonly form = byId<HTMLFormElement>('generate-form');
  private readonly error = byId('form-error');
  private readonly submit = byId<HTMLButtonElement>('generate');
  private readonly size = byId<HTMLSelectElement>('size');
  private readonly seconds = byId<HTMLInputElement>('seconds');
  private readonly steps = byId<HTMLInputElement>('steps');
  private readonly guidance = byId<HTMLInputElement>('guidance');
  private readonly prompt = byId<HTMLTextAreaElement>('prompt');
  readonly image = new ImagePicker((message) =>
    this.showError(message, message ? 'input_reference' : undefined),
  );

  constructor(onSubmit: (params: VideoCreateParams) => void) {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.showError(undefined);
      onSubmit(this.read());
    });
    this.form.addEventListener('input', (event) => {
      (event.target as Element).removeAttribute('aria-invalid');
    });
  }

  /** Fills the choices and defaults from the model's presets, and enables the form. */
  applyPresets(model: Model): void {
    const p = model.presets;
    this.size.replaceChildren(...p.sizes.map((s) => el('option', { value: s, text: s.replace('x', '×') })));
    this.size.value = p.default_size;
    setRange(this.seconds, p.seconds);
    setRange(this.steps, p.num_inference_steps);
    setRange(this.guidance, p.guidance_scale);
    this.prompt.maxLength = p.max_prompt_length;
    this.submit.disabled = false;
  }

  /** The create request from the inputs; empty optional inputs are left out. */
  read(): VideoCreateParams {
    const data = new FormData(this.form);
    const text = (name: string) => String(data.get(name) ?? '');
    const params: VideoCreateParams = { prompt: text('prompt') };
    if (text('size')) params.size = text('size');
    const numbers = ['seconds', 'num_inference_steps', 'seed', 'guidance_scale'] as const;
    for (const name of numbers) {
      const raw = text(name).trim();
      if (raw !== '') (params as Record<string, unknown>)[name] = Number(raw);
    }
    if (text('negative_prompt').trim()) params.negative_prompt = text('negative_prompt');
    // Sent as a multipart file part by the SDK; the server fits it to the chosen size.
    if (this.image.value) params.input_reference = this.image.value;
    return params;
  }

  setBusy(busy: boolean): void {
    this.submit.disabled = busy;
    this.submit.textContent = busy ? 'Submitting…' : 'Generate';
  }

  /** Shows the API's message; marks and focuses the input it names. */
  showError(message: string | undefined, param?: string): void {
    showMessage(this.error, message);
    for (const field of this.form.querySelectorAll('[aria-invalid]')) field.removeAttribute('aria-invalid');
    if (!message || !param) return;
    const field = this.form.elements.namedItem(param) as Field | null;
    if (!field || !('focus' in field)) return;
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', 'form-error');
    const details = field.closest('details');
    if (details) details.open = true;
    field.focus();
  }
}

function setRange(input: HTMLInputElement, range: { min: number; max: number; default: number }): void {
  input.min = String(range.min);
  input.max = String(range.max);
  input.value = String(range.default);
  input.placeholder = `${range.min}–${range.max}`;
}
