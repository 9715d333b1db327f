/**
 * What a V8 CPU profile says the time went on, for the notes and docs/performance.md: the self time
 * of each function and of each place (a module of src/, a package of node_modules, Node's own
 * code, the garbage collector, idle), and the total time under each function of src/ (itself and
 * what it called), over every `.cpuprofile` under each DIR (a process writes one
 * per thread; BENCH_CPU_PROF=DIR of bench/scale.ts writes DIR/controller, DIR/engine, ...).
 *
 *   node --import tsx bench/profile.ts DIR... [--top 25]
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values: args, positionals: dirs } = parseArgs({
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
if (dirs.length === 0) {
  console.error('usage: node --import tsx bench/profile.ts DIR... [--top 25]');
  process.exit(2);
}
const TOP = Number(args.top);
if (!Number.isInteger(TOP) || TOP < 1) throw new Error(`--top: "${args.top}" is not a positive whole number`);

function profilesUnder(path: string): string[] {
  if (statSync(path).isFile()) return path.endsWith('.cpuprofile') ? [path] : [];
  return readdirSync(path).flatMap((name) => profilesUnder(join(path, name)));
}

/** Where a frame's code lives: src/<dir>, a node_modules package, node's own, or V8's pseudo-frames. */
function placeOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName.replace(/[()]/g, '') || 'anonymous'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node';
  const src = /\/(src|bench|test)\/(.*?)([^/]+)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}${src[3]!.replace(/\.[jt]s$/, '')}`;
  return url;
}

/** place:line, without the line when the profile has none (code loaded through tsx reports line 1). */
const where = (place: string, lineNumber: number) => (lineNumber > 0 ? `${place}:${lineNumber + 1}` : place);

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

function top(map: Map<string, number>, total: number, n: number): string[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, us]) => `  ${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`,
    );
}

for (const dir of dirs) {
  const files = profilesUnder(dir);
  if (files.length === 0) {
    console.error(`${dir}: no .cpuprofile files`);
    process.exitCode = 1;
    continue;
  }
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  const underSrc = new Map<string, number>();
  let total = 0;
  let wall = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    wall += p.endTime - p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      const node = nodes.get(p.samples[i]!);
      const us = p.timeDeltas[i] ?? 0;
      if (!node) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const place = placeOf(url, functionName);
      add(byPlace, place, us);
      add(byFunction, `${functionName || '(anonymous)'}  ${url ? where(place, lineNumber) : ''}`, us);
      total += us;
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const f = nodes.get(id)!.callFrame;
        if (!/\/src\//.test(f.url)) continue;
        const key = `${f.functionName || '(anonymous)'}  ${where(placeOf(f.url, f.functionName), f.lineNumber)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        add(underSrc, key, us);
      }
    }
  }
  const idle = byPlace.get('(idle)') ?? 0;
  console.log(
    `${relative(process.cwd(), dir) || dir}: ${files.length} profile(s), ${(wall / 1e6).toFixed(1)} s sampled, ` +
      `${((total - idle) / 1e6).toFixed(1)} s busy`,
  );
  console.log(' by place (self time):');
  for (const line of top(byPlace, total, TOP)) console.log(line);
  console.log(' by function (self time):');
  for (const line of top(byFunction, total, TOP)) console.log(line);
  console.log(' under each function of src/ (itself and what it called):');
  for (const line of top(underSrc, total, TOP)) console.log(line);
}
