/**
 * `reptile tune BENCHMARK --space FILE`: grid or random search over `reptile train` settings,
 * every trial scored on VALIDATION tasks only (--eval-split validation: the test split is never
 * evaluated, not even at periodic points), ranked, with the best configuration written as a
 * file that `reptile train --config` accepts. Trials run like experiment cells: in parallel
 * child processes, and a re-run skips finished trials.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { BACKENDS } from '../core/backend.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/files.js';
import type { ChartPanel } from '../io/charts.js';
import { integer } from './parse.js';
import { UsageError } from './errors.js';
import { resolveTrainConfig } from './train-options.js';
import { BENCHMARKS, type Benchmark } from './config.js';
import { runCells, type Cell, type CellSettings } from './experiment/cells.js';
import { formatStats, groupRows, metricOf, resultRows, writeRows, type Group } from './experiment/rows.js';
import { chart } from './experiment/report.js';
import { gridPoints, parseSearchSpace, randomPoints, SEARCH_KINDS, type SearchKind } from './tune/search-space.js';
import { markdownTable } from 'markdown-table';
import { brokerFlagOptions, refuseStrayBrokerFlags } from './broker-options.js';
import type { BrokerFlags } from '../distributed/broker-connection.js';

export const BEST_CONFIG_FILE = 'best-config.json';

interface TuneFlags extends Partial<BrokerFlags> {
  space: string;
  search?: SearchKind;
  trials?: number;
  seed?: number;
  seeds: number;
  jobs?: number;
  out?: string;
  data?: string;
  backend?: string;
}

/** The trials' settings: the file's base and one point, scored on validation, no baseline phase. */
function trialCells(benchmark: Benchmark, base: Record<string, unknown>, points: Record<string, unknown>[], seeds: number, file: string): Cell[] {
  const cells: Cell[] = [];
  points.forEach((point, trial) => {
    for (let seed = 0; seed < seeds; seed++) {
      const settings = { ...base, ...point, seed, evalSplit: 'validation', baseline: 'none' } as CellSettings;
      let resolved;
      try {
        resolved = resolveTrainConfig(benchmark, {}, settings);
      } catch (error) {
        if (error instanceof UsageError) throw new UsageError(`--space ${file}: ${error.message.replace(/^--config: /, '')}`);
        throw error;
      }
      // Periodic evaluations only at the end unless the file asks for more (they would be on validation tasks too).
      settings.evalInterval = (base.evalInterval as number | undefined) ?? resolved.metaIters;
      settings.checkpointInterval = (base.checkpointInterval as number | undefined) ?? 0;
      cells.push({ benchmark, labels: { trial: trial + 1 }, settings });
    }
  });
  return cells;
}

function rank(groups: Group[], better: 'lower' | 'higher'): Group[] {
  const score = (g: Group) => (Number.isFinite(g.stats.mean) ? (better === 'lower' ? g.stats.mean : -g.stats.mean) : Infinity);
  return [...groups].sort((a, b) => score(a) - score(b));
}

export function registerTuneCommand(program: Command): void {
  const command = program
    .command('tune')
    .description(`search hyperparameters (grid or random) on validation tasks only, rank the trials and write ${BEST_CONFIG_FILE} for reptile train --config`)
    .argument('<benchmark>', `the task distribution: ${BENCHMARKS.join(', ')}`)
    .addOption(new Option('--space <file>', 'JSON or YAML file: {search?, trials?, seed?, base: {settings}, space: {setting: [values] | {min, max, log?, integer?}}} (docs/tuning.md)').makeOptionMandatory())
    .addOption(new Option('--search <kind>', "grid (every combination of the lists) or random (default: the file's, else grid)").choices(SEARCH_KINDS))
    .addOption(new Option('--trials <n>', "random search: points to draw (default: the file's, else 8)").argParser(integer(1)))
    .addOption(new Option('--seed <n>', "random search: seed of the draws (default: the file's, else 0)").argParser(integer(0, 2 ** 31 - 1)))
    .addOption(new Option('--seeds <n>', 'training seeds per trial (the score is their mean)').argParser(integer(1)).default(1))
    .addOption(new Option('--jobs <n>', `trials at a time, one process each (default: the number of cores, ${availableParallelism()} here)`).argParser(integer(1)))
    .addOption(new Option('--out <dir>', 'output folder (default: tune/<benchmark>); trials already finished there are skipped'))
    .addOption(new Option('--data <dir>', 'omniglot / images: the data (as reptile train --data)'))
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend of every trial').choices(BACKENDS))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (benchmarkName: string, flags: TuneFlags) => {
      if (!(BENCHMARKS as readonly string[]).includes(benchmarkName)) throw new UsageError(`unknown benchmark '${benchmarkName}': allowed: ${BENCHMARKS.join(', ')}`);
      const benchmark = benchmarkName as Benchmark;
      refuseStrayBrokerFlags(flags);
      if (benchmark === 'sine' && flags.data) throw new UsageError('--data does not apply to sine; it applies to: omniglot, images');
      const text = await readFile(flags.space, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`--space ${flags.space}: cannot read it (${error.code ?? error.message})`);
      });
      const space = parseSearchSpace(text, flags.space);
      const search = flags.search ?? space.search ?? 'grid';
      const points = search === 'grid' ? gridPoints(space, flags.space) : randomPoints(space, flags.trials ?? space.trials ?? 8, flags.seed ?? space.seed ?? 0);
      const base = { ...space.base };
      // Omniglot's validation characters exist only in MAML's split (1100 / 100 / 423).
      if (benchmark === 'omniglot' && !('split' in base) && !('split' in space.space)) base.split = 'maml';
      const cells = trialCells(benchmark, base, points, flags.seeds, flags.space);
      const out = flags.out ?? `tune/${benchmark}`;
      const metric = metricOf(benchmark);
      const log = (line: string) => console.log(line);
      log(`tune ${benchmark}: ${search} search, ${points.length} trials x ${flags.seeds} seeds, scored on validation tasks (${metric.label}, ${metric.better} is better), in ${out}`);
      if (base.split === 'maml' && !('split' in space.base)) log('omniglot: using --split maml, whose 100 validation characters score the trials (the 423 test characters are never used)');
      const broker = flags.broker ? await (await import('./broker-cells.js')).brokerTrainer(flags as BrokerFlags, log) : undefined;
      let results;
      try {
        results = await runCells(cells, {
          dir: join(out, 'cells'),
          jobs: flags.jobs ?? (broker ? cells.length : availableParallelism()),
          log,
          extraArgs: () => [...(flags.data ? ['--data', flags.data] : []), ...(flags.backend ? ['--backend', flags.backend] : [])],
          describe: (r) => `validation ${metric.label} ${metric.format(Number((r.summary!.eval as Record<string, unknown>)[metric.key]))}`,
          ...(broker ? { trainer: broker.trainer } : {}),
        });
      } finally {
        await broker?.close();
      }
      const rows = resultRows('tune', results);
      const ranked = rank(groupRows(rows, ['trial']), metric.better);
      const rankOf = new Map(ranked.map((g, i) => [g.key.trial, i + 1]));
      for (const row of rows) row.rank = rankOf.get(row.trial as number) ?? null;
      rows.sort((a, b) => Number(a.rank) - Number(b.rank) || Number(a.seed) - Number(b.seed));
      await writeRows(out, rows);

      const best = ranked[0];
      if (!best || !Number.isFinite(best.stats.mean)) throw new Error(`no trial finished; see train.log in ${join(out, 'cells')}`);
      const bestPoint = points[Number(best.key.trial) - 1];
      const bestConfig = { benchmark, ...base, ...bestPoint };
      await writeJsonAtomic(join(out, BEST_CONFIG_FILE), bestConfig);

      const keys = Object.keys(space.space);
      const table = markdownTable([
        ['rank', 'trial', ...keys, `validation ${metric.label}, mean +- 95% CI`, 'runs'],
        ...ranked.map((g, i) => [String(i + 1), String(g.key.trial), ...keys.map((k) => String(points[Number(g.key.trial) - 1][k])), formatStats(g, metric), String(g.rows.length)]),
      ]);
      const numericKeys = keys.filter((k) => points.every((p) => typeof p[k] === 'number'));
      const panels: ChartPanel[] = numericKeys.map((k) => ({
        title: k,
        xLabel: k,
        yLabel: `validation ${metric.label}`,
        xLog: points.every((p) => (p[k] as number) > 0),
        series: [{ label: 'trial (mean over seeds)', mark: 'point' as const, x: ranked.map((g) => points[Number(g.key.trial) - 1][k] as number), y: ranked.map((g) => (metric.key === 'accuracy' ? 100 : 1) * g.stats.mean) }],
      }));
      const report = [
        `# reptile tune ${benchmark}`,
        '',
        `Command: \`reptile ${process.argv.slice(2).join(' ')}\``,
        '',
        `${search} search over ${keys.join(', ')}: ${points.length} trials x ${flags.seeds} seeds. Every trial is scored on **validation** tasks ` +
          (benchmark === 'sine' ? '(a stream of new sine tasks separate from the test tasks\' stream)' : `(the split's validation classes${base.split ? `, --split ${String(base.split)}` : ''})`) +
          '; the test split is never evaluated. Fixed settings: ' + (Object.keys(base).length ? Object.entries(base).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ') : 'the benchmark defaults') + '.',
        '',
        `Best: trial ${best.key.trial} (${keys.map((k) => `${k} ${JSON.stringify(bestPoint[k])}`).join(', ')}), written to [${BEST_CONFIG_FILE}](${BEST_CONFIG_FILE}): ` +
          `\`reptile train ${benchmark} --config ${join(out, BEST_CONFIG_FILE)}\` trains it and evaluates it on the test split.`,
        '',
        table,
        '',
        ...(panels.length ? [await chart(join(out, 'charts'), 'trials', panels, `validation ${metric.label} of each trial`, Math.min(3, panels.length)), ''] : []),
      ].join('\n');
      await writeFileAtomic(join(out, 'report.md'), report + '\n');
      log(`best: trial ${best.key.trial}, validation ${metric.label} ${formatStats(best, metric)}; ${join(out, BEST_CONFIG_FILE)} (reptile train ${benchmark} --config ${join(out, BEST_CONFIG_FILE)}); ranking in ${join(out, 'report.md')}`);
    });
  for (const option of brokerFlagOptions('the trials')) command.addOption(option);
}
