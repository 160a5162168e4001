/** What both kinds of `reptile adapt` read and print: input lines (a file or stdin) and predictions (TSV or JSON). */
import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

/** The non-blank lines of `file`, or of stdin without one. */
export async function readInputLines(file: string | undefined): Promise<string[]> {
  let text: string;
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--input ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  }
  return text.split(/\r?\n/).filter((line) => line.trim() !== '');
}

export interface Predicted {
  label: string;
  probability: number;
}

/**
 * One line per prediction, `label<TAB>probability<TAB>item` (probability with 3 decimals), or with
 * `json` one JSON array of {label, probability, [itemKey]: item} (full precision).
 */
export function writePredictions(predictions: readonly Predicted[], items: readonly string[], itemKey: 'text' | 'path', json: boolean): void {
  if (json) {
    const rows = predictions.map((p, i) => ({ label: p.label, probability: p.probability, [itemKey]: items[i] }));
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  process.stdout.write(predictions.map((p, i) => `${p.label}\t${p.probability.toFixed(3)}\t${items[i]}\n`).join(''));
}
