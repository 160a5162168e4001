/**
 * Generated Omniglot zips (fflate) with the layout of the official archives,
 * `<split>/<alphabet>/<characterNN>/<drawing>.png` plus directory entries, so that the layout
 * check and the download tests need no real data.
 */
import { zipSync } from 'fflate';
import { encode } from 'fast-png';
import type { OmniglotArchiveSpec } from '../../src/io/download.js';

/** The PNG signature: enough for the layout check, which reads names and sizes only. */
export const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The entries of a complete archive of `spec` (with directory entries, as the official zips
 * have); the i-th drawing holds `drawing(i)`.
 */
export function layoutEntries(spec: OmniglotArchiveSpec, top = spec.split, drawing: (i: number) => Uint8Array = () => PNG): Record<string, Uint8Array> {
  const entries: Record<string, Uint8Array> = { [`${top}/`]: new Uint8Array(0) };
  let i = 0;
  for (const [alphabet, count] of Object.entries(spec.alphabets)) {
    entries[`${top}/${alphabet}/`] = new Uint8Array(0);
    for (let c = 1; c <= count; c++) {
      const character = `character${String(c).padStart(2, '0')}`;
      entries[`${top}/${alphabet}/${character}/`] = new Uint8Array(0);
      for (let d = 1; d <= spec.drawingsPerCharacter; d++) {
        entries[`${top}/${alphabet}/${character}/${String(c).padStart(4, '0')}_${String(d).padStart(2, '0')}.png`] = drawing(i++);
      }
    }
  }
  return entries;
}

/** `entries` without those whose name starts with `prefix`. */
export function without(entries: Record<string, Uint8Array>, prefix: string): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(entries).filter(([name]) => !name.startsWith(prefix)));
}

/** A zip of `entries`, stored (not deflated), like the official archives' PNGs. */
export function zip(entries: Record<string, Uint8Array>): Uint8Array {
  return zipSync(entries, { level: 0 });
}

/** 1x1 grey PNGs of every grey level: drawings that differ from their neighbours. */
const GREYS = Array.from({ length: 256 }, (_, v) => encode({ width: 1, height: 1, data: Uint8Array.of(v), channels: 1, depth: 8 }));

/**
 * A complete archive of `spec` whose drawings are valid 1x1 PNGs (a few MB for the full
 * Omniglot layouts: 5.0 MB for images_background, 3.4 MB for images_evaluation).
 */
export function syntheticOmniglotZip(spec: OmniglotArchiveSpec): Uint8Array {
  return zip(layoutEntries(spec, spec.split, (i) => GREYS[i % 256]));
}
