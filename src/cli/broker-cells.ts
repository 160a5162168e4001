/**
 * `reptile tune/experiment --broker URL`: the cells' runs are trained by `reptile worker`
 * processes (src/distributed/cell-jobs.ts) instead of child processes here. The server is checked
 * before anything is written.
 */
import { brokerAddress, checkBroker, type BrokerFlags } from '../distributed/broker-connection.js';
import { BrokerCells } from '../distributed/cell-jobs.js';
import type { CellTrainer } from './experiment/cells.js';

export interface BrokerTrainer {
  trainer: CellTrainer;
  close(): Promise<void>;
}

export async function brokerTrainer(flags: BrokerFlags, log: (line: string) => void): Promise<BrokerTrainer> {
  const address = brokerAddress(flags);
  await checkBroker(address, log);
  const cells = await BrokerCells.start(address, log);
  return { trainer: (cell, id, dir, extraArgs) => cells.train(id, cell, dir, extraArgs), close: () => cells.close() };
}
