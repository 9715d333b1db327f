/**
 * Every rule of the catalogue fires on the corpus files made for it and stays silent on the valid
 * ones; bad input gets diagnostics, never an exception.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lintUnitFile, lintUnitFiles, RULES } from '../../../src/unit/lint/index.js';
import type { Diagnostic } from '../../../src/diag.js';
import { loadCorpus, type CorpusCase, type CorpusFile } from './support/corpus.js';

const cases = loadCorpus();

/** A case is linted as a repository: its files together, as `gitfleet lint DIR` does (SVC07 needs that). */
function lint(c: CorpusCase, f: CorpusFile): Diagnostic[] {
  const repo = lintUnitFiles(c.files.map((x) => ({ name: x.name, file: x.id, content: x.content, state: x.state })));
  return repo.diagnostics.filter((d) => d.file === f.id);
}

const results = cases.flatMap((c) => c.files.map((f) => ({ file: f, diagnostics: lint(c, f) })));
const validFiles = results.filter((r) => r.file.expect.length === 0);

/**
 * Rules whose findings come from elsewhere (fleet.yaml: src/spec; systemd-analyze with --systemd:
 * systemd.test.ts) or only from linter bugs.
 */
const NOT_UNIT_FILE_RULES = new Set(['YML01', 'YML02', 'YML03', 'YML04', 'LINT', 'SYSTEMD']);
/** Rules about drop-ins, which need a repository with drop-in directories: test/unit/lint/dropins.test.ts. */
for (const id of ['DRP01', 'DRP02', 'DRP03']) NOT_UNIT_FILE_RULES.add(id);

describe('corpus expectations', () => {
  for (const r of results) {
    const label = r.file.expect.length
      ? `reports ${r.file.expect.join(', ')} on ${r.file.id}`
      : `reports no warning or error on ${r.file.id}`;
    test(label, () => {
      const got = new Set(r.diagnostics.map((d) => d.rule));
      if (r.file.expect.length === 0) {
        assert.deepEqual(
          r.diagnostics.filter((d) => d.severity !== 'info'),
          [],
        );
      } else {
        for (const rule of r.file.expect)
          assert.ok(got.has(rule), `${rule} missing; got ${JSON.stringify(r.diagnostics)}`);
      }
      assert.ok(!got.has('LINT'), 'a rule crashed');
    });
  }
});

describe('each rule fires on a bad file and stays silent on the good ones', () => {
  for (const rule of RULES) {
    if (NOT_UNIT_FILE_RULES.has(rule.id)) continue;
    test(`${rule.id} (${rule.summary})`, () => {
      const bad = results.filter((r) => r.file.expect.includes(rule.id));
      assert.ok(bad.length > 0, `no corpus file expects ${rule.id}`);
      for (const r of bad) {
        const hits = r.diagnostics.filter((d) => d.rule === rule.id);
        assert.ok(hits.length > 0, `${rule.id} silent on ${r.file.id}`);
        for (const d of hits) {
          assert.ok(d.message.length > 10, 'message says what is wrong');
          assert.equal(d.file, r.file.id);
        }
      }
      for (const r of validFiles) {
        assert.deepEqual(
          r.diagnostics.filter((d) => d.rule === rule.id && d.severity !== 'info'),
          [],
          `${rule.id} fired on valid ${r.file.id}`,
        );
      }
    });
  }
});

describe('positions and messages', () => {
  test('a value finding points at the value', () => {
    const { diagnostics } = lintUnitFile('a.service', '[Service]\nExecStart=/bin/true\nRestart=ALWAYS\n', {
      file: 'a.service',
    });
    assert.deepEqual(
      diagnostics.map((d) => [d.line, d.column, d.rule, d.severity]),
      [[3, 9, 'VAL03', 'error']],
    );
    assert.match(diagnostics[0]!.message, /case-sensitive: did you mean always/);
  });

  test('KEY01 suggests the closest key, the right case and the right section', () => {
    const text = '[Unit]\nRestart=always\n[Service]\nExecStart=/bin/true\nExecStrat=/bin/true\nrestartsec=5\n';
    const msgs = lintUnitFile('a.service', text, { file: 'a.service' }).diagnostics.map(
      (d) => `${d.line}:${d.column} ${d.rule} ${d.message}`,
    );
    assert.deepEqual(msgs, [
      '2:1 KEY01 unknown key Restart= in [Unit]: systemd ignores it; Restart= belongs in [Service]',
      '5:1 KEY01 unknown key ExecStrat= in [Service]: systemd ignores it; did you mean ExecStart=?',
      '6:1 KEY01 unknown key restartsec= in [Service]: systemd ignores it; keys are case-sensitive: did you mean ' +
        'RestartSec=?',
    ]);
  });

  test('SCT01 suggests the section by case or spelling', () => {
    const d = lintUnitFile('a.service', '[service]\n[Servce]\n[Service]\nExecStart=/bin/true\n', {
      file: 'a.service',
    }).diagnostics;
    assert.match(d[0]!.message, /did you mean \[Service\]/);
    assert.match(d[1]!.message, /did you mean \[Service\]/);
  });

  test('an uncertain value (time zone the tz database may not have) is a warning, not an error', () => {
    const d = lintUnitFile('a.timer', '[Timer]\nOnCalendar=*-*-* 12:00 Mars/Olympus\n', {
      file: 'a.timer',
    }).diagnostics;
    assert.deepEqual(
      d.map((x) => [x.rule, x.severity]),
      [['VAL02', 'warning']],
    );
  });

  test('specifiers are expanded for the unit name before checking unit names', () => {
    const ok = lintUnitFile(
      'web@.service',
      '[Unit]\nAfter=%p-db@%i.service\nBindsTo=%n\n[Service]\nExecStart=/bin/true\n',
      { file: 'x' },
    );
    assert.deepEqual(
      ok.diagnostics.filter((d) => d.severity !== 'info'),
      [],
    );
    // In a plain unit %i is empty: "%i.service" becomes ".service".
    const bad = lintUnitFile('web.service', '[Unit]\nAfter=%i.service\n[Service]\nExecStart=/bin/true\n', {
      file: 'x',
    });
    assert.deepEqual(
      bad.diagnostics.map((d) => [d.rule, d.severity]),
      [['VAL08', 'error']],
    );
  });

  test('INS01 only concerns units whose desired state is launched', () => {
    const text = '[Service]\nExecStart=/bin/true\n[Install]\n';
    assert.equal(
      lintUnitFile('a.service', text, { file: 'a', state: 'launched' }).diagnostics.filter((d) => d.rule === 'INS01')
        .length,
      1,
    );
    assert.equal(
      lintUnitFile('a.service', text, { file: 'a', state: 'loaded' }).diagnostics.filter((d) => d.rule === 'INS01')
        .length,
      0,
    );
  });

  test('repo rules (DEP02, TRG02, TRG03) stay silent without the repo unit list', () => {
    const d = lintUnitFile('a.timer', '[Unit]\nRequires=db.service\nAfter=db.service\n[Timer]\nOnCalendar=daily\n', {
      file: 'a',
    });
    assert.deepEqual(d.diagnostics, []);
  });

  test('an instance in the repo counts as present when its template is', () => {
    const d = lintUnitFile(
      'a.service',
      '[Unit]\nRequires=web@1.service\nAfter=web@1.service\n[Service]\nExecStart=/bin/true\n',
      { file: 'a', repoUnits: new Set(['a.service', 'web@.service']) },
    );
    assert.deepEqual(d.diagnostics, []);
  });
});

describe('bad input: diagnostics, never an exception', () => {
  test('a logical line of 2 MiB is SYN04 and stops the file', () => {
    const text = `[Unit]\nDescription=${'x'.repeat(2 * 1024 * 1024)}\n[Service]\nExecStart=/bin/true\n`;
    const r = lintUnitFile('big.service', Buffer.from(text), { file: 'big.service' });
    assert.equal(r.unit, null);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.rule, d.severity, d.line]),
      [['SYN04', 'error', 2]],
    );
  });

  test('a file named ../x.service is NAM01 and is still linted', () => {
    const r = lintUnitFile('../../x.service', '[Service]\nExecStart=/bin/true\n', { file: '../../x.service' });
    assert.deepEqual(
      r.diagnostics.map((d) => [d.rule, d.severity, d.line]),
      [['NAM01', 'error', 0]],
    );
    assert.match(r.diagnostics[0]!.message, /"\/".*not a path/);
  });

  test('a name without a unit type is NAM01', () => {
    const r = lintUnitFile('README.md', '# hello\n', { file: 'README.md' });
    assert.deepEqual(
      r.diagnostics.map((d) => d.rule),
      ['NAM01'],
    );
  });

  test('an empty file is MSK01 (systemd masks it)', () => {
    assert.deepEqual(
      lintUnitFile('a.service', new Uint8Array(0), { file: 'a' }).diagnostics.map((d) => d.rule),
      ['MSK01'],
    );
    assert.deepEqual(
      lintUnitFile('a.service', '', { file: 'a' }).diagnostics.map((d) => d.rule),
      ['MSK01'],
    );
  });

  test('random damage to every corpus file never throws nor crashes a rule', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = Buffer.from('[]=%\\#;\n\r "\'@-+!:~*/.,0123456789abcXYZ\u00e9\t');
    for (const c of cases) {
      for (const f of c.files) {
        for (let k = 0; k < 20; k++) {
          const b = Buffer.from(f.content);
          for (let m = 0; m < 1 + rand(6) && b.length > 0; m++)
            b[rand(b.length)] = rand(4) === 0 ? rand(256) : alphabet[rand(alphabet.length)]!;
          const r = lintUnitFile(f.name, b, { file: f.id, repoUnits: new Set([f.name]), state: 'launched' });
          assert.ok(
            !r.diagnostics.some((d) => d.rule === 'LINT'),
            `rule crashed on a mutation of ${f.id}: ${JSON.stringify(r.diagnostics)}`,
          );
        }
      }
    }
  });
});

test('lintUnitFiles reports MachineOf= cycles across units', () => {
  const files = [
    {
      name: 'a.service',
      file: 'a.service',
      content: '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOf=b.service\n',
    },
    {
      name: 'b.service',
      file: 'b.service',
      content: '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOf=a.service\n',
    },
  ];
  const { diagnostics, units } = lintUnitFiles(files);
  assert.equal(units.size, 2);
  assert.deepEqual(
    diagnostics.map((d) => [d.file, d.rule]),
    [
      ['a.service', 'FLT02'],
      ['b.service', 'FLT02'],
    ],
  );
});
