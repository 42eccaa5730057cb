/**
 * The order of user names and a sorted set of them. Every list of names the
 * server sends, and every `who` page, is in Unicode code point order: the
 * order of the names' UTF-8 bytes, which is also how Redis orders the members
 * of a sorted set by `ZRANGEBYLEX`. One order everywhere keeps a page cursor
 * (`after`) valid on any node, embedded or clustered.
 */

/**
 * compareNames orders two names by code point, like comparing their UTF-8
 * bytes. JavaScript's own `<` compares UTF-16 code units, which puts the
 * astral planes (surrogate pairs, D800–DFFF) before U+E000–U+FFFF; this fixes
 * that one case and is otherwise a plain comparison.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) return codePointRank(x) - codePointRank(y);
    return x - y;
  }
  return a.length - b.length;
}

/** Moves U+E000–U+FFFF below the surrogates, so units from D800 up compare as code points do. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** A request for one page of a sorted list of names. */
export interface PageRequest {
  /** Only names after this one; unset: from the first. */
  after?: string;
  /** Most names in the page. */
  limit: number;
}

/** One page of names, and the cursor of the next page. */
export interface NamePage {
  /** In {@link compareNames} order. */
  users: string[];
  /** The last name of this page when more follow (pass it as `after`); null on the last page. */
  next: string | null;
}

/**
 * SortedNames is a set of names kept in {@link compareNames} order: adding
 * and removing cost a binary search and one array move, listing and paging
 * need no sort.
 */
export class SortedNames {
  readonly #names: string[] = [];

  /** Fills the set with `names` (any order, duplicates dropped). */
  constructor(names: Iterable<string> = []) {
    this.#names = [...new Set(names)].sort(compareNames);
  }

  /** Number of names. */
  get size(): number {
    return this.#names.length;
  }

  /** has tells whether `name` is in the set. */
  has(name: string): boolean {
    const i = this.#search(name);
    return i < this.#names.length && this.#names[i] === name;
  }

  /** add inserts `name`; returns false when it was already there. */
  add(name: string): boolean {
    const i = this.#search(name);
    if (i < this.#names.length && this.#names[i] === name) return false;
    this.#names.splice(i, 0, name);
    return true;
  }

  /** delete removes `name`; returns false when it was not there. */
  delete(name: string): boolean {
    const i = this.#search(name);
    if (i >= this.#names.length || this.#names[i] !== name) return false;
    this.#names.splice(i, 1);
    return true;
  }

  /** toArray returns the names in order, with `extra` inserted in its place when given and missing. */
  toArray(extra?: string): string[] {
    if (extra === undefined || this.has(extra)) return this.#names.slice();
    const i = this.#search(extra);
    return [...this.#names.slice(0, i), extra, ...this.#names.slice(i)];
  }

  /** page returns up to `limit` names after `after`, and the cursor of the next page. */
  page(request: PageRequest): NamePage {
    const start = request.after === undefined ? 0 : this.#searchAfter(request.after);
    const users = this.#names.slice(start, start + request.limit);
    const more = start + request.limit < this.#names.length;
    return { users, next: more && users.length > 0 ? users.at(-1)! : null };
  }

  /** Index of the first name not before `name`. */
  #search(name: string): number {
    let lo = 0;
    let hi = this.#names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareNames(this.#names[mid]!, name) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first name after `name`. */
  #searchAfter(name: string): number {
    const i = this.#search(name);
    return i < this.#names.length && this.#names[i] === name ? i + 1 : i;
  }
}
