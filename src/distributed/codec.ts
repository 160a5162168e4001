/**
 * Binary encoding of what travels through Redis: parameters, optimizer states, task examples and
 * chunk results. Node's structured-clone serializer keeps typed arrays as they are (no base64 or
 * JSON of floats), and it decodes data only: plain objects, arrays, numbers, strings, typed
 * arrays, never functions or classes, so a blob from Redis cannot carry code.
 */
import { deserialize, serialize } from 'node:v8';

export function encode(value: unknown): Buffer {
  return serialize(value);
}

export function decode<T>(bytes: Buffer): T {
  return deserialize(bytes) as T;
}
