/**
 * Names in Redis of one distributed run: everything under `<prefix>:run:<run>:` (so an ACL can
 * confine a user to a prefix), the queue under BullMQ's own `<prefix>:` keys. A generation is one
 * coordinator session (a resumed run gets a new one), a version one meta-iteration's parameters.
 */
export const ADAPT_QUEUE = 'adapt';

export interface ChunkAddress {
  run: string;
  generation: number;
  version: number;
  chunk: number;
}

export class RunKeys {
  constructor(readonly prefix: string, readonly run: string) {}

  private key(...parts: (string | number)[]): string {
    return [this.prefix, 'run', this.run, ...parts].join(':');
  }

  /** INCR'd by every coordinator session. */
  get generation(): string {
    return this.key('generation');
  }

  /** `<generation>.<version>` of the meta-iteration being computed: older work is stale. */
  get current(): string {
    return this.key('current');
  }

  /** Counters of ignored deliveries: a second result for a chunk, and work of an old version. */
  get duplicates(): string {
    return this.key('duplicates');
  }

  get stale(): string {
    return this.key('stale');
  }

  /** Results from workers of another build, ignored by the coordinator. */
  get refused(): string {
    return this.key('refused');
  }

  params(generation: number, version: number): string {
    return this.key('params', generation, version);
  }

  result(generation: number, version: number, chunk: number): string {
    return this.key('result', generation, version, chunk);
  }

  /** The list a worker pushes a chunk's index to after writing its result (the coordinator blocks on it). */
  done(generation: number, version: number): string {
    return this.key('done', generation, version);
  }
}

/**
 * The job id of a chunk: `run.generation.version.chunk` (with `.backup` for a backup copy).
 * Dots, not colons: BullMQ refuses ids with colons (they are its own key separator).
 */
export function jobId({ run, generation, version, chunk }: ChunkAddress, copy?: string): string {
  return [run, generation, version, chunk, ...(copy ? [copy] : [])].join('.');
}
