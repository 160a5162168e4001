/**
 * `reptile eval` on text: --benchmark evaluates a run on another text data set (cross-dataset:
 * meta-trained on CLINC150, tested on every BANKING77 intent), --data says where that data is,
 * --query-shots how many queries per class.
 */
import { Option } from 'commander';
import { integer } from './parse.js';
import { UsageError } from './errors.js';
import { textDataDefault } from './text-options.js';
import { TEXT_BENCHMARKS, isTextBenchmark, type TextBenchmark, type TrainConfig } from './config.js';

export function textEvalOptions(): Option[] {
  return [
    new Option('--benchmark <name>', "evaluate on another text data set's intents, all of them as test intents (default: the run's benchmark and test split)").choices(TEXT_BENCHMARKS),
    new Option('--data <dir>', "where that data set is (default: the run's --data, or data/<benchmark> for another benchmark)"),
    new Option('--query-shots <n>', "text: query examples per class (default: the run's)").argParser(integer(1)),
  ];
}

/** The settings that --benchmark, --data and --query-shots change. */
export function crossDatasetConfig(recorded: TrainConfig, flags: Record<string, unknown>): Partial<TrainConfig> {
  const out: Partial<TrainConfig> = {};
  const benchmark = flags.benchmark as TextBenchmark | undefined;
  if (flags.queryShots !== undefined) {
    if (!isTextBenchmark(recorded.benchmark)) throw new UsageError(`--query-shots applies to text runs (${TEXT_BENCHMARKS.join(', ')}), not ${recorded.benchmark}`);
    out.queryShots = flags.queryShots as number;
  }
  if (flags.data !== undefined) out.data = flags.data as string;
  if (benchmark !== undefined && benchmark !== recorded.benchmark) {
    if (!isTextBenchmark(recorded.benchmark)) throw new UsageError(`--benchmark ${benchmark}: the run in question was trained on ${recorded.benchmark}; cross-dataset evaluation works between text runs (${TEXT_BENCHMARKS.join(', ')})`);
    out.benchmark = benchmark;
    out.data = (flags.data as string | undefined) ?? textDataDefault(benchmark);
    out.textSplit = 'all';
  }
  return out;
}
