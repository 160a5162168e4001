/**
 * The text tokenizer (src/text/tokenizer.ts): FNV-1a 32-bit against the published test vectors,
 * the feature strings of a hand-worked text, ids = hash mod buckets, determinism, truncation,
 * Unicode handling, the bag of features, and spec validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TOKENIZER, features, fnv1a32, tokenizer, validateTokenizer, words, writeBag, type TokenizerSpec } from '../src/text/tokenizer.js';

const spec = (over: Partial<TokenizerSpec> = {}): TokenizerSpec => ({ ...DEFAULT_TOKENIZER, ...over });

test('fnv1a32 matches the FNV-1a 32-bit test vectors (offset basis 2166136261, prime 16777619)', () => {
  // From the reference test suite (Landon Curt Noll's fnv test vectors).
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  // Over UTF-8 bytes: a hand-written FNV-1a over TextEncoder's bytes agrees on non-ASCII text.
  const reference = (text: string) => {
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    return h;
  };
  for (const t of ['héllo', 'w1:naïve', 'c:€uro', '日本語', 'emoji 😀']) assert.equal(fnv1a32(t), reference(t), t);
});

test('features: lower-cased words, word bigrams, boundary-marked character trigrams, in that order', () => {
  const s = spec({ wordNgrams: 2, charNgrams: [3] });
  assert.deepEqual(words("What's MY  card?!"), ["what's", 'my', 'card']);
  assert.deepEqual(features(s, 'My CARD'), ['w1:my', 'w1:card', 'w2:my card', 'c:<my', 'c:my>', 'c:<ca', 'c:car', 'c:ard', 'c:rd>']);
  // A one-letter word has one trigram with both marks; character n-grams count code points (U+20000
  // is one letter outside the BMP); symbols such as emoji are not words.
  assert.deepEqual(features(spec({ wordNgrams: 1, charNgrams: [3] }), 'a \u{20000} 😀'), ['w1:a', 'w1:\u{20000}', 'c:<a>', 'c:<\u{20000}>']);
  assert.deepEqual(features(s, '  ?! '), []);
  // NFKC: the ligature "ﬁ" and full-width letters become plain letters.
  assert.deepEqual(words('ﬁne ＡＢ'), ['fine', 'ab']);
});

test('ids are FNV-1a mod buckets, deterministic, truncated to maxTokens', () => {
  const s = spec({ buckets: 1000, maxTokens: 5, wordNgrams: 2, charNgrams: [3, 4] });
  const tok = tokenizer(s);
  const text = 'transfer money to my savings account';
  const expected = features(s, text).map((f) => fnv1a32(f) % 1000);
  assert.equal(expected.length, 5);
  assert.deepEqual(tok.ids(text), expected);
  assert.deepEqual(tokenizer(s).ids(text), tok.ids(text), 'a second tokenizer gives the same ids');
  assert.deepEqual(features(s, text).slice(0, 3), ['w1:transfer', 'w1:money', 'w1:to'], 'truncation keeps the first features');
  for (const id of tokenizer(spec({ buckets: 7 })).ids('a long enough sentence to fill many buckets')) assert.ok(id >= 0 && id < 7);
});

test('the bag of features holds count / total at each id and is zero for a text without features', () => {
  const s = spec({ buckets: 16, wordNgrams: 1, charNgrams: [] });
  const tok = tokenizer(s);
  const ids = tok.ids('yes yes no');
  const out = new Float32Array(20).fill(9);
  tok.bagInto('yes yes no', out, 2);
  assert.equal(out[0], 9);
  assert.equal(out[18], 9);
  const bag = out.subarray(2, 18);
  const expected = new Float32Array(16);
  for (const id of ids) expected[id] += 1 / 3;
  assert.deepEqual([...bag], [...expected]);
  assert.ok(Math.abs(bag.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.equal(bag[fnv1a32('w1:yes') % 16] >= Math.fround(2 / 3) - 1e-7, true);
  const empty = new Float32Array(16).fill(5);
  writeBag([], 16, empty, 0);
  assert.deepEqual([...empty], new Array(16).fill(0));
});

test('bad specs are refused with a message naming the field', () => {
  assert.throws(() => validateTokenizer(spec({ buckets: 1 })), /buckets/);
  assert.throws(() => validateTokenizer(spec({ maxTokens: 0 })), /maxTokens/);
  assert.throws(() => validateTokenizer(spec({ charNgrams: [0] })), /charNgrams/);
  assert.throws(() => validateTokenizer(spec({ wordNgrams: 0, charNgrams: [] })), /no features/);
  assert.throws(() => validateTokenizer({ ...spec(), hash: 'md5' as 'fnv1a32' }), /hash/);
});
