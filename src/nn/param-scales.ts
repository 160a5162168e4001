/**
 * Per-parameter multipliers of a learning rate or a meta-step ("layer-wise rates"), written
 * `name=scale,name=scale`. A name is a parameter's name or a prefix of it ending at a '/'
 * (`embedding` is `embedding/kernel`; `dense0` is `dense0/kernel` and `dense0/bias`); a parameter
 * matched by none is scaled by 1, and the longest matching name wins.
 */
export type ParamScales = Readonly<Record<string, number>>;

const matches = (key: string, name: string) => name === key || name.startsWith(`${key}/`);

/** Parses `name=scale,...` (scales finite and >= 0); the empty string is no scaling. */
export function parseParamScales(text: string): ParamScales {
  const scales: Record<string, number> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const [name, value, extra] = part.split('=').map((s) => s.trim());
    const scale = Number(value);
    if (!name || value === undefined || value === '' || extra !== undefined || !Number.isFinite(scale) || scale < 0) {
      throw new RangeError(`'${part}' is not name=scale with a number scale >= 0, e.g. embedding=0.1,importance=1`);
    }
    if (name in scales) throw new RangeError(`'${name}' is given twice`);
    scales[name] = scale;
  }
  return scales;
}

/** The canonical text of `scales` (sorted by name; '' for none). */
export function formatParamScales(scales: ParamScales): string {
  return Object.keys(scales).sort().map((k) => `${k}=${scales[k]}`).join(',');
}

/** The multiplier of parameter `name`. */
export function scaleFor(scales: ParamScales, name: string): number {
  let best: string | undefined;
  for (const key of Object.keys(scales)) if (matches(key, name) && (best === undefined || key.length > best.length)) best = key;
  return best === undefined ? 1 : scales[best];
}

/** Throws when a name in `scales` matches none of the model's parameters (a typo would scale nothing). */
export function checkParamScales(scales: ParamScales, paramNames: readonly string[]): void {
  for (const key of Object.keys(scales)) {
    if (!paramNames.some((n) => matches(key, n))) throw new RangeError(`'${key}' names no parameter of the model; its parameters: ${paramNames.join(', ')}`);
  }
}
