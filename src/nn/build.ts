/** Builds a model from its JSON description (as stored with exported weights and in config.json). */
import type { ModelSpec, ModelWithSpec } from './model.js';
import { mlp } from './mlp.js';
import { conv } from './conv.js';
import { embeddingBag } from './embedding-bag.js';
import { modelFromLayersSpec } from './from-layers-model.js';

export function buildModel(spec: ModelSpec): ModelWithSpec {
  switch (spec.kind) {
    case 'mlp':
      return mlp(spec.sizes, { activation: spec.activation, init: spec.init });
    case 'conv':
      return conv(spec);
    case 'embedding-bag':
      return embeddingBag(spec);
    case 'layers':
      return modelFromLayersSpec(spec);
  }
}
