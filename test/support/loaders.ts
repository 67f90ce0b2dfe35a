// Helpers for the loader tests.
import { expect } from 'vitest';
import { loadKernel } from '../../src/loaders/index.js';
import { LoadError, type LoadOptions } from '../../src/loaders/types.js';

/** The message of the LoadError loading `opts` must throw. */
export function loadError(opts: LoadOptions): string {
  try {
    loadKernel(opts);
  } catch (e) {
    expect(e).toBeInstanceOf(LoadError);
    return (e as Error).message;
  }
  throw new Error('expected a LoadError');
}
