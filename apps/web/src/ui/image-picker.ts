import { byId } from './dom';

const ACCEPTED = ['image/png', 'image/jpeg', 'image/webp'];

/**
 * The optional start image: a file input that also takes a dropped file, with a preview. The
 * server decides what is a valid image (it reads the bytes, not the type); the picker only keeps
 * obviously wrong files (a PDF, a folder) from being sent, and names the field in its message.
 */
export class ImagePicker {
  private readonly field = byId('image-field');
  private readonly input = byId<HTMLInputElement>('image');
  private readonly drop = byId('image-drop');
  private readonly hint = byId('image-hint');
  private readonly preview = byId('image-preview');
  private readonly thumb = byId<HTMLImageElement>('image-thumb');
  private readonly name = byId('image-name');
  private readonly clear = byId<HTMLButtonElement>('image-clear');
  private file: File | undefined;
  private previewURL: string | undefined;

  constructor(private readonly onError: (message: string | undefined) => void) {
    this.input.addEventListener('change', () => this.take(this.input.files?.[0]));
    this.clear.addEventListener('click', () => this.take(undefined));
    this.drop.addEventListener('dragover', (event) => {
      event.preventDefault();
      this.drop.classList.add('dragging');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('dragging'));
    this.drop.addEventListener('drop', (event) => {
      event.preventDefault();
      this.drop.classList.remove('dragging');
      this.take(event.dataTransfer?.files[0]);
    });
  }

  /** The chosen image, if any. */
  get value(): File | undefined {
    return this.file;
  }

  /** Shows or hides the picker (a model that takes no image hides it and drops the choice). */
  setEnabled(enabled: boolean): void {
    this.field.hidden = !enabled;
    if (!enabled) this.take(undefined);
  }

  private take(file: File | undefined): void {
    if (this.previewURL) URL.revokeObjectURL(this.previewURL);
    this.previewURL = undefined;
    if (file && !ACCEPTED.includes(file.type) && file.type !== '') {
      this.onError(`input_reference: ${file.name} is not a PNG, JPEG or WebP image.`);
      file = undefined;
    } else this.onError(undefined);
    this.file = file;
    if (!file) this.input.value = '';
    this.preview.hidden = !file;
    this.clear.hidden = !file;
    this.hint.hidden = Boolean(file);
    if (file) {
      this.previewURL = URL.createObjectURL(file);
      this.thumb.src = this.previewURL;
      this.name.textContent = `${file.name}, ${Math.max(1, Math.round(file.size / 1024))} kB`;
    } else this.thumb.removeAttribute('src');
  }
}
