// The options the probes (ifr-probe, mvc-probe) share, as node:util parseArgs declares them: a model, a
// data set, and the labeled split whose frames they look at (training's seed-0, 1/16-video split by default).
export const PROBE_OPTIONS = {
  model: { type: 'string' },
  data: { type: 'string', default: 'data/synth' },
  'labeled-videos': { type: 'string', default: '0.0625' },
  seed: { type: 'string', default: '0' },
  help: { type: 'boolean', default: false },
} as const;
