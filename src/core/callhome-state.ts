// The small record callhome keeps next to a stick sequence file (see policy.ts CallhomeState).
// It is advice, not truth: a missing or damaged record only costs a few extra candidates, so it
// never stops a callhome; it is rewritten atomically like the sequence file.

import { readTextIfExists } from './files.js';
import { EMPTY_STATE, type CallhomeState } from './policy.js';

const VERSION = 1;

export interface LoadedState {
  readonly state: CallhomeState;
  /** Set when the file existed but could not be used; the caller says so and carries on. */
  readonly warning?: string;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A line number is a whole number from 1; anything else in a damaged record is no record. */
function lineOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : null;
}

/** The record from a state file's text (null: no file). Never throws: a bad record is a warning. */
export function parseCallhomeState(text: string | null, path: string): LoadedState {
  if (text === null) return { state: EMPTY_STATE };
  try {
    const data = JSON.parse(text) as Record<string, unknown> | null;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not a JSON object');
    if (data.version !== VERSION) throw new Error(`unknown version ${String(data.version)}`);
    return {
      state: {
        confirmedLine: lineOrNull(data.confirmedLine),
        confirmedFingerprint: typeof data.confirmedFingerprint === 'string' ? data.confirmedFingerprint : null,
        lastOpenedAt: numberOrNull(data.lastOpenedAt),
      },
    };
  } catch (error) {
    return { state: EMPTY_STATE, warning: `${path} is unreadable (${(error as Error).message}); starting from no record` };
  }
}

export function formatCallhomeState(state: CallhomeState): string {
  return `${JSON.stringify({ version: VERSION, ...state }, null, 2)}\n`;
}

export async function readCallhomeState(path: string): Promise<LoadedState> {
  return parseCallhomeState(await readTextIfExists(path), path);
}
