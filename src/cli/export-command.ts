/**
 * `reptile export RUN_DIR --format safetensors --out FILE`: a run's meta-parameters (model/) as a
 * file other tools load: safetensors with PyTorch's state_dict names and layouts
 * (src/nn/pytorch-layout.ts, bench/reptile_models.py), or tfjs (model.json + weights.bin, a copy
 * of model/ as a tfjs-layers model).
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { disposeParams } from '../core/params.js';
import { useBackend } from '../core/backend.js';
import { RunDir, RUN_FILES, RunDirError } from '../io/run-dir.js';
import { loadModel, saveModel } from '../io/model-files.js';
import { saveSafetensors } from '../io/safetensors-files.js';
import { pytorchLayout } from '../nn/pytorch-layout.js';
import { packageVersion } from './metadata.js';
import { UsageError } from './errors.js';

export const EXPORT_FORMATS = ['safetensors', 'tfjs'] as const;

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description("write a run's meta-parameters for other tools: safetensors with PyTorch's state_dict names, or tfjs")
    .argument('<run-dir>', 'a directory written by reptile train')
    .addOption(new Option('--format <name>', 'safetensors (PyTorch names and layouts; docs/interop.md) or tfjs (model.json + weights.bin)').choices(EXPORT_FORMATS).makeOptionMandatory())
    .addOption(new Option('--out <path>', 'the file to write (tfjs: a directory); replaced only by a complete one').makeOptionMandatory())
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (dir: string, flags: { format: (typeof EXPORT_FORMATS)[number]; out: string }) => {
      RunDir.open(dir, 'export');
      // Reshapes and transposes only: exact on any backend, and the cpu one needs no set-up.
      await useBackend('cpu');
      const { model, params, json } = await loadModel(join(dir, RUN_FILES.model)).catch((e: Error) => {
        throw new RunDirError(`export ${dir}: ${e.message}`);
      });
      try {
        if (flags.format === 'safetensors') {
          try {
            pytorchLayout(model.spec);
          } catch (error) {
            throw new UsageError(`--format safetensors: ${(error as Error).message}; export it with --format tfjs`);
          }
        }
        const { spec: _spec, paramNames: _names, ...recorded } = json.userDefinedMetadata.reptile;
        const metadata = { reptileVersion: packageVersion(), ...Object.fromEntries(['benchmark', 'algorithm', 'seed'].filter((k) => recorded[k] !== undefined).map((k) => [k, String(recorded[k])])) };
        try {
          if (flags.format === 'safetensors') await saveSafetensors(flags.out, model.spec, params, metadata);
          else await saveModel(flags.out, model, params, { ...recorded, exportedFrom: dir });
        } catch (error) {
          throw new UsageError(`--out ${flags.out}: cannot write it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
        }
        console.log(`Written ${flags.format} to ${flags.out}`);
      } finally {
        disposeParams(params);
      }
    });
}
