/**
 * Fails when a TypeScript line is wider than the formatter's width (biome.json's lineWidth). The
 * formatter cannot break a long string or comment, so this catches what it leaves.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const width: number = JSON.parse(readFileSync('biome.json', 'utf8')).formatter.lineWidth;
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], {
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f && !f.endsWith('.generated.ts'));
let bad = 0;
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    if ([...line].length > width) {
      bad++;
      console.error(`${file}:${i + 1}: line is ${[...line].length} characters wide (at most ${width})`);
    }
  });
}
process.exit(bad > 0 ? 1 : 0);
