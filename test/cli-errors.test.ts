/**
 * Usage errors of the `reptile` command (DESIGN.md, "Errors"): exit code 2, one line on stderr
 * naming what is wrong and what is allowed, no stack trace, no run started or written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/cli.js';

/** Flags that would make a run tiny, should one be started by mistake. */
const TINY = ['--meta-iters', '2', '--eval-samples', '2', '--eval-interval', '0', '--eval-iters', '1', '--baseline', 'none'];

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-cli-errors-'));
  await writeFile(join(dir, 'not-json.json'), '{"metaIters": 20,');
  await writeFile(join(dir, 'unknown-key.json'), JSON.stringify({ metaIters: 20, metaIterz: 3 }));
  await writeFile(join(dir, 'bad-value.json'), JSON.stringify({ learningRate: -1 }));
  await writeFile(join(dir, 'bad-choice.json'), JSON.stringify({ algorithm: 'protonet' }));
  await writeFile(join(dir, 'bad-type.json'), JSON.stringify({ freshInnerState: 'yes' }));
  await writeFile(join(dir, 'array.json'), JSON.stringify([{ metaIters: 20 }]));
  await writeFile(join(dir, 'a-file'), 'not a directory\n');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface ErrorCase {
  name: string;
  /** Arguments after `train sine` (or the whole command line if `raw`). */
  args: () => string[];
  raw?: boolean;
  /** Every one of these must appear in the error line. */
  mentions: (string | RegExp)[];
}

const out = () => join(dir, 'run');

const CASES: ErrorCase[] = [
  { name: 'unknown benchmark', raw: true, args: () => ['train', 'omniglot-typo', '--out', out(), ...TINY], mentions: ['omniglot-typo', 'sine'] },
  { name: 'unknown flag', args: () => ['--meta-iterations', '20'], mentions: ['--meta-iterations', '--help'] },
  { name: 'non-numeric value', args: () => ['--meta-iters', 'abc'], mentions: ['--meta-iters', 'abc', /integer/] },
  { name: 'fractional integer', args: () => ['--seed', '1.5'], mentions: ['--seed', '1.5', /integer/] },
  { name: '--meta-iters 0', args: () => ['--meta-iters', '0'], mentions: ['--meta-iters', "'0'", '>= 1'] },
  { name: '--learning-rate -1', args: () => ['--learning-rate', '-1'], mentions: ['--learning-rate', '-1', '> 0'] },
  { name: '--learning-rate 0', args: () => ['--learning-rate', '0'], mentions: ['--learning-rate', "'0'", '> 0'] },
  { name: '--momentum 1', args: () => ['--momentum', '1'], mentions: ['--momentum', "'1'", /<= 0\.99/] },
  { name: 'bad --hidden list', args: () => ['--hidden', '64,,64'], mentions: ['--hidden', '64,,64', /integers >= 1/] },
  { name: 'bad --algorithm choice', args: () => ['--algorithm', 'protonet'], mentions: ['--algorithm', 'protonet', 'reptile', 'maml', 'joint'] },
  { name: 'bad --backend choice', args: () => ['--backend', 'gpu'], mentions: ['--backend', 'gpu', 'wasm', 'cpu'] },
  { name: 'missing --config file', args: () => ['--config', join(dir, 'missing.json')], mentions: ['--config', 'missing.json', /cannot read|ENOENT/] },
  { name: '--config not JSON', args: () => ['--config', join(dir, 'not-json.json')], mentions: ['--config', 'not-json.json', /JSON/] },
  { name: '--config not an object', args: () => ['--config', join(dir, 'array.json')], mentions: ['--config', /object/] },
  { name: '--config unknown key', args: () => ['--config', join(dir, 'unknown-key.json')], mentions: ['--config', 'metaIterz', 'metaIters', 'learningRate'] },
  { name: '--config bad value', args: () => ['--config', join(dir, 'bad-value.json')], mentions: ['--config', '--learning-rate', '-1', '> 0'] },
  { name: '--config bad choice', args: () => ['--config', join(dir, 'bad-choice.json')], mentions: ['--config', '--algorithm', 'protonet', 'reptile'] },
  { name: '--config bad type', args: () => ['--config', join(dir, 'bad-type.json')], mentions: ['--config', '--fresh-inner-state', 'yes', /true or false/] },
  { name: 'missing benchmark', raw: true, args: () => ['train'], mentions: ['benchmark', 'sine'] },
  { name: 'unknown command', raw: true, args: () => ['trian', 'sine'], mentions: ['trian', 'train'] },
  { name: 'bad --inner-rate-scale', args: () => ['--inner-rate-scale', 'dense0'], mentions: ['--inner-rate-scale', 'dense0', 'name=scale'] },
  { name: 'negative --meta-step-scale', args: () => ['--meta-step-scale', 'dense0=-1'], mentions: ['--meta-step-scale', 'dense0=-1', '>= 0'] },
  { name: '--inner-rate-scale naming no parameter', args: () => ['--inner-rate-scale', 'embedding=0.1'], mentions: ['--inner-rate-scale', "'embedding' names no parameter", 'dense0/kernel'] },
  { name: '--meta-step-scale with fomaml', args: () => ['--algorithm', 'fomaml', '--meta-step-scale', 'dense0=2'], mentions: ['--meta-step-scale', 'reptile', 'fomaml'] },
  { name: '--meta-step-scale with a meta-optimizer', args: () => ['--meta-optimizer', 'adam', '--meta-step-scale', 'dense0=2'], mentions: ['--meta-step-scale', 'interpolate', 'adam'] },
  { name: '--inner-rate-scale with scratch', args: () => ['--algorithm', 'scratch', '--inner-rate-scale', 'dense0=2'], mentions: ['--inner-rate-scale', 'reptile', 'scratch'] },
  { name: 'text model on sine', args: () => ['--model', 'weighted-embedding-bag'], mentions: ['--model', 'weighted-embedding-bag'] },
  { name: '--out is a file', args: () => [...TINY, '--out', join(dir, 'a-file')], mentions: ['--out', 'a-file'] },
];

describe('usage errors: exit code 2, one line, no stack trace, nothing written', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const args = c.raw ? c.args() : ['train', 'sine', '--out', out(), ...TINY, ...c.args()];
      const { code, stdout, stderr } = await runCli(args);
      const lines = stderr.split('\n').filter((l) => l.trim() !== '');
      assert.equal(code, 2, `exit code for ${args.join(' ')}; stderr: ${stderr}`);
      assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${stderr}`);
      const line = lines[0];
      assert.match(line, /^error: \S/);
      assert.ok(!stderr.includes('    at '), `no stack trace:\n${stderr}`);
      for (const m of c.mentions) {
        if (typeof m === 'string') assert.ok(line.includes(m), `error line should mention ${JSON.stringify(m)}: ${line}`);
        else assert.match(line, m);
      }
      assert.equal(stdout, '', 'nothing on stdout');
      // No run was started: the run directory was not even created.
      assert.equal(existsSync(out()), false, '--out must not be created');
    });
  }
});

test('a run directory from a --config that is a run\'s config.json is accepted (settings keys as in config.json)', async () => {
  // config.json records the backend and versions next to the settings; those keys are not errors.
  const config = {
    metaIters: 1, evalSamples: 1, evalInterval: 0, evalIters: 1, baseline: 'none',
    backendUsed: 'wasm', model: 'mlp', modelSpec: { kind: 'mlp', sizes: [1, 64, 64, 1], activation: 'tanh', init: 'pytorch' },
    packageVersion: '0.0.0', tfjsVersion: '4.22.0', nodeVersion: 'v20.0.0', platform: 'linux-x64',
    startedAt: '2020-01-01T00:00:00.000Z', command: ['train', 'sine'], out: '/elsewhere', force: false, benchmark: 'sine',
  };
  const file = join(dir, 'recorded.json');
  await writeFile(file, JSON.stringify(config));
  const target = join(dir, 'from-recorded');
  const { code, stderr } = await runCli(['train', 'sine', '--config', file, '--out', target, '--hidden', '4']);
  assert.equal(code, 0, stderr);
  assert.ok(existsSync(join(target, 'summary.json')), 'the run is written to --out, not the recorded out');
  assert.equal(existsSync('/elsewhere'), false);
});
