/**
 * Every conformance case, in Autobahn|Testsuite's category order.
 */
import { closeCases } from './close.js';
import { compressionCases } from './compression.js';
import { fragmentationCases } from './fragmentation.js';
import { framingCases } from './framing.js';
import { limitCases } from './limits.js';
import { opcodeCases } from './opcodes.js';
import { pingCases } from './pings.js';
import { reservedBitCases } from './reserved-bits.js';
import type { ConformanceCase } from './types.js';
import { utf8Cases } from './utf8.js';

export type { ConformanceCase } from './types.js';

/** The categories, each named as in Autobahn|Testsuite, with its cases. */
export const CATEGORIES: [string, ConformanceCase[]][] = [
  ['1 framing', framingCases],
  ['2 pings and pongs', pingCases],
  ['3 reserved bits', reservedBitCases],
  ['4 opcodes', opcodeCases],
  ['5 fragmentation', fragmentationCases],
  ['6 UTF-8', utf8Cases],
  ['7 close handling', closeCases],
  ['9 limits and performance', limitCases],
  ['12/13 compression', compressionCases],
];
