/**
 * Text to a fixed-length list of hashed feature ids (browser-safe), for the embedding-bag model.
 *
 * Features of a text, in this order (a text with more than `maxTokens` features keeps the first
 * ones, so long texts lose character n-grams first):
 * 1. the text is NFKC-normalised and lower-cased; words are maximal runs of letters and digits
 *    (Unicode classes L and N), apostrophes inside a word kept ("what's");
 * 2. word n-grams for n = 1..wordNgrams, written `w<n>:` + the words joined by one space
 *    (`w1:card`, `w2:my card`);
 * 3. character n-grams of each word with boundary marks, for each n in charNgrams, written `c:`
 *    + the n code points (`<card>` gives `c:<ca`, `c:car`, `c:ard`, `c:rd>` for n = 3), as fastText.
 * A feature's id is (FNV-1a 32-bit of its UTF-8 bytes) mod buckets: FNV-1a with the standard
 * offset basis 2166136261 and prime 16777619 (fnv-plus's fast1a32utf).
 * A text's bag of features is the vector over the ids holding count(id) / (number of features)
 * (all zeros for a text without features): the embedding-bag model's input.
 */
import fnv from 'fnv-plus';

export interface TokenizerSpec {
  kind: 'hashed-ngrams';
  hash: 'fnv1a32';
  /** Size of the hashed vocabulary. */
  buckets: number;
  /** At most this many features per text (the rest are dropped). */
  maxTokens: number;
  /** Word n-grams for n = 1..wordNgrams (0: no word features). */
  wordNgrams: number;
  /** Character n-gram lengths (empty: none). */
  charNgrams: number[];
}

export const DEFAULT_TOKENIZER: TokenizerSpec = { kind: 'hashed-ngrams', hash: 'fnv1a32', buckets: 8192, maxTokens: 256, wordNgrams: 2, charNgrams: [3] };

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text` (an unsigned integer). */
export function fnv1a32(text: string): number {
  return fnv.fast1a32utf(text) >>> 0;
}

/** Checks a spec (from a flag, a config or a model file); returns it. */
export function validateTokenizer(spec: TokenizerSpec): TokenizerSpec {
  const bad = (what: string) => {
    throw new RangeError(`tokenizer: ${what}`);
  };
  if (spec.kind !== 'hashed-ngrams' || spec.hash !== 'fnv1a32') bad(`unknown kind '${spec.kind}' / hash '${spec.hash}' (allowed: hashed-ngrams, fnv1a32)`);
  if (!Number.isInteger(spec.buckets) || spec.buckets < 2 || spec.buckets > 2 ** 24) bad(`buckets must be an integer in [2, 2^24], got ${spec.buckets}`);
  if (!Number.isInteger(spec.maxTokens) || spec.maxTokens < 1) bad(`maxTokens must be an integer >= 1, got ${spec.maxTokens}`);
  if (!Number.isInteger(spec.wordNgrams) || spec.wordNgrams < 0) bad(`wordNgrams must be an integer >= 0, got ${spec.wordNgrams}`);
  if (!Array.isArray(spec.charNgrams) || spec.charNgrams.some((n) => !Number.isInteger(n) || n < 1)) bad(`charNgrams must be integers >= 1, got ${JSON.stringify(spec.charNgrams)}`);
  if (spec.wordNgrams === 0 && spec.charNgrams.length === 0) bad('no features: wordNgrams is 0 and charNgrams is empty');
  return spec;
}

/** The words of a text after normalisation. */
export function words(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)*/gu) ?? [];
}

/** The feature strings of a text, in order, at most `spec.maxTokens` of them. */
export function features(spec: TokenizerSpec, text: string): string[] {
  const ws = words(text);
  const out: string[] = [];
  const full = () => out.length >= spec.maxTokens;
  for (let n = 1; n <= spec.wordNgrams && !full(); n++) {
    for (let i = 0; i + n <= ws.length && !full(); i++) out.push(`w${n}:${ws.slice(i, i + n).join(' ')}`);
  }
  for (const n of spec.charNgrams) {
    for (const w of ws) {
      const chars = Array.from(`<${w}>`);
      for (let i = 0; i + n <= chars.length && !full(); i++) out.push(`c:${chars.slice(i, i + n).join('')}`);
    }
  }
  return out;
}

/** The bag of features of a text with these feature ids: count(id) / ids.length at offset + id. */
export function writeBag(ids: readonly number[], buckets: number, out: Float32Array, offset: number): void {
  out.fill(0, offset, offset + buckets);
  for (const id of ids) out[offset + id] += 1 / ids.length;
}

export interface Tokenizer {
  readonly spec: TokenizerSpec;
  /** The ids of the text's features, in [0, buckets), in feature order. */
  ids(text: string): number[];
  /** Writes the text's bag of features (`spec.buckets` values) at `offset`. */
  bagInto(text: string, out: Float32Array, offset: number): void;
}

export function tokenizer(spec: TokenizerSpec = DEFAULT_TOKENIZER): Tokenizer {
  validateTokenizer(spec);
  const ids = (text: string) => features(spec, text).map((f) => fnv1a32(f) % spec.buckets);
  return {
    spec,
    ids,
    bagInto(text, out, offset) {
      writeBag(ids(text), spec.buckets, out, offset);
    },
  };
}
