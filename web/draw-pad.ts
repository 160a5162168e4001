/** A canvas to draw on with a pointer (black strokes on opaque white, like Omniglot's PNGs). */
export class DrawPad {
  private readonly ctx: CanvasRenderingContext2D;
  private drawing = false;
  dirty = false;

  constructor(readonly canvas: HTMLCanvasElement, onStrokeEnd: () => void = () => {}) {
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    this.clear();
    const point = (e: PointerEvent) => {
      const r = canvas.getBoundingClientRect();
      return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
    };
    canvas.addEventListener('pointerdown', (e) => {
      this.drawing = true;
      canvas.setPointerCapture(e.pointerId);
      const [x, y] = point(e);
      this.ctx.beginPath();
      this.ctx.moveTo(x, y);
      this.ctx.lineTo(x + 0.01, y);
      this.ctx.stroke();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.drawing) return;
      const [x, y] = point(e);
      this.ctx.lineTo(x, y);
      this.ctx.stroke();
      this.dirty = true;
    });
    const end = () => {
      if (!this.drawing) return;
      this.drawing = false;
      this.dirty = true;
      onStrokeEnd();
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  clear(): void {
    this.ctx.fillStyle = '#fff';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    // Omniglot's strokes are about 3 pixels wide at 105x105.
    this.ctx.lineWidth = Math.max(2, this.canvas.width / 35);
    this.ctx.lineCap = 'round';
    this.ctx.lineJoin = 'round';
    this.ctx.strokeStyle = '#000';
    this.dirty = false;
  }

  imageData(): ImageData {
    return this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
  }
}

/** Draws an example (size*size floats 0..1, strokes high) as a black-on-white thumbnail. */
export function thumbnail(example: Float32Array, size: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = size;
  c.height = size;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const v = 255 - Math.round(example[i] * 255);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return c;
}
