import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseUnit } from '../../src/unit/parse.js';
import { parseFleetSection, TEMPLATE_SAMPLE_INSTANCE } from '../../src/unit/xfleet.js';
import { splitFleetValue } from '../../src/unit/xfleet-values.js';
import { machineOfCycleDiagnostics } from '../../src/unit/xfleet-cycles.js';

const fleet = (body: string, name = 'web.service', file = `units/${name}`) =>
  parseFleetSection(parseUnit(`[Service]\nExecStart=/bin/true\n\n[X-Fleet]\n${body}`, file), name);
/** "RULE@line:col" of each diagnostic; the [X-Fleet] body starts on line 5. */
const rules = (r: ReturnType<typeof fleet>) => r.diagnostics.map((d) => `${d.rule}@${d.line}:${d.column}`);

describe('splitFleetValue (fleet parseMultivalueLine)', () => {
  it('splits a value that starts and ends with a quote at spaces outside quotes', () => {
    assert.deepEqual(splitFleetValue('"region=us east" "disk=ssd"'), ['region=us east', 'disk=ssd']);
    assert.deepEqual(splitFleetValue('"a"  "b"'), ['a', 'b']);
    assert.deepEqual(splitFleetValue('"a.service"'), ['a.service']);
  });
  it('keeps any other value whole', () => {
    assert.deepEqual(splitFleetValue('a=b c=d'), ['a=b c=d']);
    assert.deepEqual(splitFleetValue('"a" b'), ['"a" b']);
    assert.deepEqual(splitFleetValue('"'), ['"']);
  });
});

describe('parseFleetSection: constraints', () => {
  it('returns no constraints and no diagnostics without an [X-Fleet] section', () => {
    const r = parseFleetSection(parseUnit('[Service]\nExecStart=/bin/true\n', 'a.service'), 'a.service');
    assert.equal(r.present, false);
    assert.deepEqual(r.constraints, { machineMetadata: {}, machineOf: [], conflicts: [], global: false, replaces: [] });
    assert.deepEqual(r.diagnostics, []);
  });

  it('reads every key, with quoted multi-values and specifiers expanded for the unit', () => {
    const r = fleet(
      [
        'MachineMetadata="region=us-east" "disk=ssd"',
        'MachineMetadata=region=us-west',
        'MachineMetadata=location=new york',
        'MachineOf=%p-db@%i.service',
        'Conflicts="%p@*.service" "cache*"',
        'Replaces=old-%N.service',
        '',
      ].join('\n'),
      'web@8080.service',
    );
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.present, true);
    assert.deepEqual(r.constraints, {
      machineMetadata: { region: ['us-east', 'us-west'], disk: ['ssd'], location: ['new york'] },
      machineOf: ['web-db@8080.service'],
      conflicts: ['web@*.service', 'cache*'],
      global: false,
      replaces: ['old-web@8080.service'],
    });
    assert.deepEqual(
      r.values.MachineOf.map((v) => [v.raw, v.value, v.option.line]),
      [['%p-db@%i.service', 'web-db@8080.service', 8]],
    );
  });

  it('takes the first MachineID, and accepts an 8-char short id', () => {
    assert.equal(fleet('MachineID=0123abcd\n').constraints.machineId, '0123abcd');
    assert.equal(fleet('MachineID=0123abcd\nMachineID=0123abcd\n').diagnostics.length, 0);
  });

  it('reads Global like fleet: true/yes/1/on/t in any case, last one wins', () => {
    for (const v of ['true', 'YES', '1', 'on', 't', 'True'])
      assert.equal(fleet(`Global=${v}\n`).constraints.global, true, v);
    for (const v of ['false', 'no', '0', 'off', 'F']) assert.equal(fleet(`Global=${v}\n`).constraints.global, false, v);
    assert.equal(fleet('Global=true\nGlobal=false\n').constraints.global, false);
    assert.equal(fleet('Global=false\nGlobal=true\nMachineMetadata=a=b\n').constraints.global, true);
  });

  it('deduplicates repeated values', () => {
    const r = fleet('Conflicts=a*\nConflicts=a*\nMachineMetadata=k=v\nMachineMetadata="k=v"\n');
    assert.deepEqual(r.constraints.conflicts, ['a*']);
    assert.deepEqual(r.constraints.machineMetadata, { k: ['v'] });
  });
});

describe('parseFleetSection: FLT01 unknown and deprecated keys', () => {
  it('maps fleet <0.8 names with a warning each', () => {
    const r = fleet(
      'X-ConditionMachineOf=db.service\nX-Conflicts=web*\n' +
        'X-ConditionMachineMetadata=r=1\nX-ConditionMachineID=abcdef01\n',
      'app.service',
    );
    assert.deepEqual(rules(r), ['FLT01@5:1', 'FLT01@6:1', 'FLT01@7:1', 'FLT01@8:1', 'FLT02@5:1', 'FLT02@7:1']);
    assert.ok(r.diagnostics.slice(0, 4).every((d) => d.severity === 'warning'));
    assert.match(r.diagnostics[0]!.message, /use MachineOf=/);
    assert.deepEqual(r.constraints.machineOf, ['db.service']);
    assert.deepEqual(r.constraints.conflicts, ['web*']);
    assert.deepEqual(r.constraints.machineMetadata, { r: ['1'] });
    assert.equal(r.constraints.machineId, 'abcdef01');
  });

  it('prefers MachineID over X-ConditionMachineID over X-ConditionMachineBootID (fleet order)', () => {
    const r = fleet('X-ConditionMachineBootID=boot\nX-ConditionMachineID=old\nMachineID=new\n');
    assert.equal(r.constraints.machineId, 'new');
    assert.match(r.diagnostics.find((d) => d.line === 5)!.message, /boot id changes on every boot/);
    // Several different ids: an error naming them.
    assert.ok(r.diagnostics.some((d) => d.rule === 'FLT02' && /several different values/.test(d.message)));
  });

  it('warns about an unknown key with a did-you-mean hint (keys are case-sensitive)', () => {
    const r = fleet('machineof=db.service\nMachineOff=db.service\nFoo=1\n');
    assert.deepEqual(rules(r), ['FLT01@5:1', 'FLT01@6:1', 'FLT01@7:1']);
    assert.match(r.diagnostics[0]!.message, /did you mean MachineOf=/);
    assert.match(r.diagnostics[1]!.message, /did you mean MachineOf=/);
    assert.doesNotMatch(r.diagnostics[2]!.message, /did you mean/);
    assert.deepEqual(r.constraints.machineOf, []);
  });

  it('warns about [X-FLEET] spelt in another case (fleet would ignore it)', () => {
    const r = parseFleetSection(
      parseUnit('[Service]\nExecStart=/x\n[X-FLEET]\nGlobal=true\n', 'a.service'),
      'a.service',
    );
    assert.deepEqual(rules(r), ['FLT01@3:1']);
    assert.equal(r.constraints.global, false);
    assert.equal(r.present, false);
  });
});

describe('parseFleetSection: FLT02 invalid combinations', () => {
  it('allows only MachineMetadata next to Global', () => {
    const r = fleet(
      'Global=true\nMachineMetadata=role=edge\nMachineOf=a.service\n' +
        'MachineID=abcdef01\nConflicts=x*\nReplaces=y.service\n',
    );
    assert.deepEqual(rules(r).sort(), ['FLT02@10:1', 'FLT02@7:1', 'FLT02@8:1', 'FLT02@9:1']);
    assert.ok(
      r.diagnostics.every(
        (d) => d.severity === 'error' && /only MachineMetadata= may accompany Global=/.test(d.message),
      ),
    );
    assert.deepEqual(fleet('Global=yes\nMachineMetadata=role=edge\n').diagnostics, []);
    // Global=false does not restrict anything.
    assert.deepEqual(fleet('Global=false\nMachineOf=a.service\n').diagnostics, []);
  });

  it('refuses MachineID with MachineOf or MachineMetadata', () => {
    const r = fleet('MachineID=abcdef01\nMachineOf=a.service\nMachineMetadata=r=1\n');
    assert.deepEqual(rules(r), ['FLT02@6:1', 'FLT02@7:1']);
    assert.match(r.diagnostics[0]!.message, /MachineID already names the one machine/);
    // With Conflicts it is fine.
    assert.deepEqual(fleet('MachineID=abcdef01\nConflicts=a*\n').diagnostics, []);
  });

  it('refuses a unit that is MachineOf itself, also through a specifier', () => {
    const r = fleet('MachineOf=%n\n', 'web@1.service');
    assert.deepEqual(rules(r), ['FLT02@5:11']);
    assert.match(r.diagnostics[0]!.message, /names the unit itself \(web@1\.service\)/);
  });

  it('refuses Conflicts and Replaces naming the same unit', () => {
    assert.deepEqual(rules(fleet('Conflicts=old.service\nReplaces=old.service\n')), ['FLT02@6:10']);
    assert.deepEqual(rules(fleet('Conflicts=old*\nReplaces=old-1.service\n')), ['FLT02@6:10']);
    assert.deepEqual(rules(fleet('Conflicts=old.service\nReplaces=old*\n')), ['FLT02@6:10']);
    assert.deepEqual(fleet('Conflicts=a*\nReplaces=b*\n').diagnostics, []);
  });

  it('refuses Conflicts that exclude a MachineOf target', () => {
    const r = fleet('MachineOf=db@1.service\nConflicts=db@*.service\n');
    assert.deepEqual(rules(r), ['FLT02@6:11']);
    assert.match(r.diagnostics[0]!.message, /can never be placed/);
  });

  it('does not count a template conflicting with its own instances as an error', () => {
    assert.deepEqual(fleet('Conflicts=web@*.service\n', 'web@.service').diagnostics, []);
    assert.deepEqual(fleet('Conflicts=%p@*.service\n', 'web@3.service').diagnostics, []);
  });
});

describe('parseFleetSection: FLT03 invalid values', () => {
  it('refuses MachineMetadata that is not key=value, with a quoting hint for unquoted lists', () => {
    const r = fleet('MachineMetadata=region\nMachineMetadata==x\nMachineMetadata=a=b=c\nMachineMetadata=a=b c=d\n');
    assert.deepEqual(rules(r), ['FLT03@5:17', 'FLT03@6:17', 'FLT03@7:17', 'FLT03@8:17']);
    assert.match(r.diagnostics[3]!.message, /MachineMetadata="a=b" "c=d"/);
    assert.deepEqual(r.constraints.machineMetadata, {});
  });

  it('refuses a Global value fleet would read as false by accident', () => {
    const r = fleet('Global=y\n');
    assert.deepEqual(rules(r), ['FLT03@5:8']);
    assert.equal(r.constraints.global, false);
  });

  it('refuses unquoted lists, bad globs, invalid names and templates in MachineOf/Conflicts/Replaces', () => {
    const r = fleet(
      'MachineOf=a.service b.service\nConflicts=a* b*\nConflicts=[ab\nReplaces=bad ' +
        'name\nMachineOf=db@.service\nMachineOf=x\nReplaces=../x.service\n',
    );
    assert.deepEqual(rules(r), [
      'FLT03@5:11',
      'FLT03@6:11',
      'FLT03@7:11',
      'FLT03@8:10',
      'FLT03@9:11',
      'FLT03@10:11',
      'FLT03@11:10',
    ]);
    assert.match(r.diagnostics[0]!.message, /ONE unit name.*MachineOf="a\.service" "b\.service"/);
    assert.match(r.diagnostics[2]!.message, /not a valid glob/);
    assert.match(r.diagnostics[4]!.message, /names a template/);
    assert.match(r.diagnostics[6]!.message, /not a path/);
    assert.deepEqual(r.constraints.machineOf, []);
    assert.deepEqual(r.constraints.conflicts, []);
  });

  it('refuses empty values', () => {
    const r = fleet('MachineID=\nConflicts=\nGlobal=""\n');
    assert.deepEqual(rules(r), ['FLT03@5:11', 'FLT03@6:11', 'FLT03@7:8']);
    assert.equal(r.constraints.machineId, undefined);
  });

  it('names the file and shows the expanded value', () => {
    const r = fleet('MachineOf=%i\n', 'web@1.service', 'repo/web@.service');
    assert.equal(r.diagnostics[0]!.file, 'repo/web@.service');
    assert.match(r.diagnostics[0]!.message, /"%i" \("1" for web@1\.service\)/);
  });
});

describe('templates', () => {
  it('checks a template as one of its instances', () => {
    const r = fleet('MachineOf=db@%i.service\n', 'web@.service');
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.constraints.machineOf, [`db@${TEMPLATE_SAMPLE_INSTANCE}.service`]);
  });
});

describe('machineOfCycleDiagnostics', () => {
  const ref = (name: string, body: string) => ({ name, fleet: fleet(body, name) });

  it('reports every unit of a MachineOf cycle at its MachineOf= option', () => {
    const d = machineOfCycleDiagnostics([
      ref('a.service', 'MachineOf=b.service\n'),
      ref('b.service', 'MachineOf=c.service\n'),
      ref('c.service', 'Conflicts=z*\nMachineOf=a.service\n'),
      ref('d.service', 'MachineOf=a.service\n'),
    ]);
    assert.deepEqual(d.map((x) => `${x.file}:${x.line}:${x.column} ${x.rule} ${x.severity}`).sort(), [
      'units/a.service:5:11 FLT02 error',
      'units/b.service:5:11 FLT02 error',
      'units/c.service:6:11 FLT02 error',
    ]);
    assert.match(d[0]!.message, /cycle \(a\.service -> b\.service -> c\.service -> a\.service\)/);
  });

  it('reports a mutual pair and nothing for chains without a cycle', () => {
    assert.equal(
      machineOfCycleDiagnostics([ref('a.service', 'MachineOf=b.service\n'), ref('b.service', 'MachineOf=a.service\n')])
        .length,
      2,
    );
    assert.deepEqual(
      machineOfCycleDiagnostics([
        ref('a.service', 'MachineOf=b.service\n'),
        ref('b.service', 'MachineOf=c.service\n'),
        ref('c.service', ''),
      ]),
      [],
    );
  });
});
