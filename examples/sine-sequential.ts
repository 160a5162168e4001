/**
 * Your own tf.sequential, meta-trained on sine waves with Reptile: after a few seconds of
 * meta-training, 32 SGD steps on 10 points of a new sine wave must fit it at least 5x better
 * (mean squared error) than the same steps from the network's own untrained weights. Exits
 * non-zero otherwise. README.md's "Use it as a library" shows the code below this comment
 * (test/examples.test.ts checks that it stays the same).
 */
import { tf, useBackend, Rng, fromLayersModel, meanSquaredError, sgd, Reptile, SineDistribution,
         metaTrain, evaluateRegression, type ParamSet } from '../src/index.js';

await useBackend('wasm');
const net = tf.sequential({ layers: [
  tf.layers.dense({ inputShape: [1], units: 32, activation: 'tanh' }),
  tf.layers.dense({ units: 32, activation: 'tanh' }),
  tf.layers.dense({ units: 1 }),
] });
const model = fromLayersModel(net, { reinit: true }); // reinit: weights drawn from the seed
const tasks = new SineDistribution(), loss = meanSquaredError(), inner = sgd({ learningRate: 0.05 });
const reptile = new Reptile({ model, loss, layout: tasks }, model.init(Rng.fromSeed(1)),
  { innerIters: 10, innerBatch: 10, metaBatch: 1, innerOptimizer: inner });
await metaTrain(reptile, tasks, { tasks: Rng.fromSeed(2), batches: Rng.fromSeed(3) },
  { metaIters: 2000, metaStep: 0.5, metaStepFinal: 0, evalInterval: 0 });
const adaptedMse = async (params: ParamSet) => (await evaluateRegression(model, loss, tasks, params,
  (r) => tasks.sampleEvalTask(r), { tasks: 50, evalIters: 32, evalBatch: 10, optimizer: inner }, Rng.fromSeed(4))).mseAfter;
const [meta, untrained] = [await adaptedMse(reptile.params), await adaptedMse(model.init(Rng.fromSeed(1)))];
console.log(`adapted MSE on new sine waves: meta-trained ${meta.toFixed(3)}, untrained ${untrained.toFixed(3)}`);
if (!(meta * 5 <= untrained)) throw new Error('meta-training did not beat the untrained network by 5x');
