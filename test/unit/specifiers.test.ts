import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  expandFleetSpecifiers,
  findSpecifiers,
  isDeprecatedSpecifier,
  isKnownSpecifier,
} from '../../src/unit/specifiers.js';

describe('findSpecifiers', () => {
  it('finds %X for letters, digits and %%, with the index of the %', () => {
    assert.deepEqual(findSpecifiers('/run/%i/%n.sock %%i 100% %9 %-x %'), [
      { spec: 'i', index: 5 },
      { spec: 'n', index: 8 },
      { spec: '%', index: 16 },
      { spec: '9', index: 25 },
    ]);
  });

  it('finds nothing in a value without specifiers', () => {
    assert.deepEqual(findSpecifiers('/bin/echo 50 percent'), []);
    assert.deepEqual(findSpecifiers('%'), []);
  });
});

describe('known and deprecated specifiers', () => {
  it('knows the specifiers of systemd 252', () => {
    for (const s of 'aAbBCdEfgGhHiIjJlLmMnNopPqsStTuUvVwWyY%') assert.equal(isKnownSpecifier(s), true, s);
  });
  it('flags %c %r %R as deprecated, not known', () => {
    for (const s of 'crR') {
      assert.equal(isDeprecatedSpecifier(s), true, s);
      assert.equal(isKnownSpecifier(s), false, s);
    }
  });
  it('rejects other alphanumerics', () => {
    for (const s of 'eFkKxXzZ0129') {
      assert.equal(isKnownSpecifier(s), false, s);
      assert.equal(isDeprecatedSpecifier(s), false, s);
    }
  });
});

describe('expandFleetSpecifiers (fleet unitPrintf)', () => {
  it('expands %n %N %p %i for an instance', () => {
    assert.equal(expandFleetSpecifiers('%n|%N|%p|%i', 'web@8080.service'), 'web@8080.service|web@8080|web|8080');
  });
  it('expands %i to "" for a plain unit and %p to the name without suffix', () => {
    assert.equal(expandFleetSpecifiers('%p.socket [%i]', 'db.service'), 'db.socket []');
  });
  it('leaves every other % sequence alone, and has no %% escape (as fleet)', () => {
    assert.equal(expandFleetSpecifiers('%H %m %%n %', 'a.service'), '%H %m %a.service %');
  });
  it('expands nothing for a name without "." (fleet returns no name info)', () => {
    assert.equal(expandFleetSpecifiers('%n', 'noext'), '%n');
  });
  it('treats "$" in names literally', () => {
    assert.equal(expandFleetSpecifiers('%n', 'a$&.service'), 'a$&.service');
  });
});
