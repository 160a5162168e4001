/**
 * Text classification data sets (browser-safe: everything here parses file contents; reading the
 * files is src/io/text-files.ts): CLINC150 (`data_full.json`, `domains.json`), BANKING77
 * (`train.csv`, `test.csv`) and a user's own labelled examples (CSV or JSON text,label rows).
 * A malformed file is a DatasetError naming the file and the place.
 */
import { parse } from 'csv-parse/browser/esm/sync';
import { DatasetError, messageOf } from './errors.js';
import type { ExampleClass } from '../tasks/few-shot.js';
import { writeBag, type Tokenizer } from '../text/tokenizer.js';

export interface TextClass {
  name: string;
  texts: string[];
}

export interface TextDataset {
  name: string;
  /** Classes in name order, each with its examples in file order (all of a data set's splits pooled). */
  classes: TextClass[];
  /** CLINC150's out-of-scope examples ("oos"), kept apart from the classes. */
  outOfScope?: string[];
}

export interface LabelledText {
  text: string;
  label: string;
}

/** Groups labelled texts by label (classes in name order, texts in input order). */
export function groupByLabel(name: string, rows: readonly LabelledText[]): TextDataset {
  const byLabel = new Map<string, string[]>();
  for (const { text, label } of rows) {
    if (!byLabel.has(label)) byLabel.set(label, []);
    byLabel.get(label)!.push(text);
  }
  const classes = [...byLabel.keys()].sort().map((label) => ({ name: label, texts: byLabel.get(label)! }));
  return { name, classes };
}

function parseJson(content: string, file: string): unknown {
  try {
    return JSON.parse(content);
  } catch (error) {
    throw new DatasetError(`${file}: not valid JSON (${messageOf(error)})`, file);
  }
}

const CLINC_SPLITS = ['train', 'val', 'test'] as const;
const CLINC_OOS_SPLITS = ['oos_train', 'oos_val', 'oos_test'] as const;
export const CLINC_OOS_LABEL = 'oos';

/** CLINC150's data_full.json: its train/val/test pairs pooled per intent, the oos_* examples apart. */
export function parseClinc150(content: string, file = 'data_full.json'): TextDataset {
  const data = parseJson(content, file);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new DatasetError(`${file}: expected a JSON object with keys ${CLINC_SPLITS.join(', ')}`, file);
  const record = data as Record<string, unknown>;
  const rows: LabelledText[] = [];
  const outOfScope: string[] = [];
  for (const split of [...CLINC_SPLITS, ...CLINC_OOS_SPLITS]) {
    const pairs = record[split];
    if (pairs === undefined && (CLINC_OOS_SPLITS as readonly string[]).includes(split)) continue;
    if (!Array.isArray(pairs)) throw new DatasetError(`${file}: key '${split}' must be a list of [text, intent] pairs`, file);
    pairs.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string' || pair[1] === '') {
        throw new DatasetError(`${file}: ${split}[${i}] must be a [text, intent] pair of strings, got ${JSON.stringify(pair)?.slice(0, 80)}`, file);
      }
      if (pair[1] === CLINC_OOS_LABEL) outOfScope.push(pair[0]);
      else rows.push({ text: pair[0], label: pair[1] });
    });
  }
  return { ...groupByLabel('clinc150', rows), outOfScope };
}

/** CLINC150's domains.json: domain name -> its intents. */
export function parseDomains(content: string, file = 'domains.json'): Record<string, string[]> {
  const data = parseJson(content, file);
  const ok = typeof data === 'object' && data !== null && !Array.isArray(data) &&
    Object.values(data).every((v) => Array.isArray(v) && v.every((x) => typeof x === 'string'));
  if (!ok) throw new DatasetError(`${file}: expected a JSON object mapping each domain to a list of intent names`, file);
  return data as Record<string, string[]>;
}

/**
 * Rows of a CSV file with a header; `columns` are the names the header must have (in any order,
 * others ignored). Parsed by csv-parse (quoted fields, embedded commas and newlines, a UTF-8 BOM).
 */
export function parseCsvRows(content: string, file: string, columns: readonly string[]): Record<string, string>[] {
  let rows: Record<string, string>[];
  try {
    rows = parse(content, { columns: true, bom: true, skip_empty_lines: true, trim: false }) as Record<string, string>[];
  } catch (error) {
    throw new DatasetError(`${file}: not valid CSV (${messageOf(error)})`, file);
  }
  const header = rows.length > 0 ? Object.keys(rows[0]) : [];
  const missing = columns.filter((c) => !header.includes(c));
  if (rows.length === 0) throw new DatasetError(`${file}: no rows (expected a header ${columns.join(',')} and one row per example)`, file);
  if (missing.length > 0) throw new DatasetError(`${file}: the header has no column ${missing.map((m) => `'${m}'`).join(', ')} (found: ${header.join(',')})`, file);
  return rows;
}

/** BANKING77's train.csv and test.csv (header text,category), pooled per intent. */
export function parseBanking77(files: readonly { file: string; content: string }[]): TextDataset {
  const rows: LabelledText[] = [];
  for (const { file, content } of files) {
    parseCsvRows(content, file, ['text', 'category']).forEach((row, i) => {
      if (row.category === '') throw new DatasetError(`${file}: row ${i + 2} has an empty category`, file);
      rows.push({ text: row.text, label: row.category });
    });
  }
  return groupByLabel('banking77', rows);
}

/**
 * A user's labelled examples: CSV with a header naming the columns `text` and `label` (or
 * `category`, or `intent`), or JSON: a list of {"text", "label"} objects or [text, label] pairs.
 * JSON is recognised by its first non-blank character ('[' or '{').
 */
export function parseLabelledExamples(content: string, file: string): LabelledText[] {
  const trimmed = content.replace(/^\uFEFF/, '').trimStart();
  let rows: LabelledText[];
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    const data = parseJson(trimmed, file);
    if (!Array.isArray(data)) throw new DatasetError(`${file}: expected a JSON list of {"text": ..., "label": ...} objects or [text, label] pairs`, file);
    rows = data.map((item, i) => {
      const [text, label] = Array.isArray(item) ? item : [item?.text, item?.label];
      if (typeof text !== 'string' || typeof label !== 'string' || label === '') {
        throw new DatasetError(`${file}: item ${i} must be {"text": string, "label": non-empty string} or a [text, label] pair, got ${JSON.stringify(item)?.slice(0, 80)}`, file);
      }
      return { text, label };
    });
  } else {
    const records = parseCsvRows(trimmed, file, ['text']);
    const labelColumn = ['label', 'category', 'intent'].find((c) => c in records[0]);
    if (!labelColumn) throw new DatasetError(`${file}: the header has no column 'label' (or 'category', 'intent'); found: ${Object.keys(records[0]).join(',')}`, file);
    rows = records.map((r, i) => {
      if (r[labelColumn] === '') throw new DatasetError(`${file}: row ${i + 2} has an empty ${labelColumn}`, file);
      return { text: r.text, label: r[labelColumn] };
    });
  }
  if (rows.length === 0) throw new DatasetError(`${file}: no examples`, file);
  return rows;
}

/** Few-shot classes over text classes: each example is its text's bag of features (computed once). */
export function textExampleClasses(classes: readonly TextClass[], tok: Tokenizer): ExampleClass[] {
  const size = tok.spec.buckets;
  return classes.map((cls) => {
    // Only the ids are kept per text (a few dozen numbers); the bag is written on demand.
    const ids = cls.texts.map((t) => tok.ids(t));
    return {
      name: cls.name,
      count: cls.texts.length,
      image(index: number, out: Float32Array, offset: number) {
        writeBag(ids[index], size, out, offset);
      },
    };
  });
}
