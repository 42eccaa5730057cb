import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedNames, compareNames } from '../../src/chat/names.js';

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

test('compareNames orders names as their UTF-8 bytes, where UTF-16 code units would not', () => {
  assert.ok(compareNames('\uFF21', '\u{1D400}') < 0, 'U+FF21 comes before U+1D400');
  assert.ok('\uFF21' > '\u{1D400}', 'while JavaScript\'s < says otherwise');
  assert.ok(compareNames('ab', 'abc') < 0);
  assert.equal(compareNames('Zoë', 'Zoë'), 0);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      assert.equal(Math.sign(compareNames(a, b)), Math.sign(byBytes(a, b)));
    }),
  );
});

test('SortedNames keeps names once and in order through adds and deletes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }))), (ops) => {
      const names = new SortedNames();
      const model = new Set<string>();
      for (const [add, name] of ops) {
        assert.equal(add ? names.add(name) : names.delete(name), add ? !model.has(name) : model.has(name));
        if (add) model.add(name);
        else model.delete(name);
      }
      assert.deepEqual(names.toArray(), [...model].sort(byBytes));
      assert.equal(names.size, model.size);
    }),
  );
});

test('SortedNames.page walks every name once with its next cursor', () => {
  const names = new SortedNames(['e', 'c', 'a', 'd', 'b', 'c']);
  assert.deepEqual(names.page({ limit: 2 }), { users: ['a', 'b'], next: 'b' });
  assert.deepEqual(names.page({ after: 'b', limit: 2 }), { users: ['c', 'd'], next: 'd' });
  assert.deepEqual(names.page({ after: 'd', limit: 2 }), { users: ['e'], next: null });
  assert.deepEqual(names.page({ after: 'bb', limit: 10 }), { users: ['c', 'd', 'e'], next: null }, 'a cursor need not be listed');
  assert.deepEqual(names.page({ after: 'a', limit: 4 }), { users: ['b', 'c', 'd', 'e'], next: null }, 'an exact last page has no next');
  assert.deepEqual(names.toArray('bb'), ['a', 'b', 'bb', 'c', 'd', 'e']);
});
