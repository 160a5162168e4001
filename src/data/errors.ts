/**
 * The error every data-layer check throws: one line that names the file (archive, entry or
 * folder) and says what is wrong with it, so the command line can print it as is.
 */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    message: string,
    /** The archive, entry or file the problem is about. */
    readonly file?: string,
  ) {
    super(message.replace(/\s*\n\s*/g, ' '));
  }
}

/** The message of anything thrown, on one line. */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
