// The engine's public surface. Node programs also import './node.ts' (initNode) to load Dawn.
export { initDevice, device, describeDevice, setGPU, loopKernelsFast, setLoopKernelsFast, type Device, type DeviceInfo } from './device.ts';
export { Tensor, tensor, tidy, keep, assignData, sizeOf, shapeStr, sameShape, type Shape } from './tensor.ts';
export type { DType } from './dtype.ts';
export { backward, noGrad, detach, record, requireGrad, zeroGrad, isGradEnabled } from './autograd.ts';
export { memoryStats, resetPeak } from './memory.ts';
export { sync, flush } from './scheduler.ts';
export * from './ops/creation.ts';
export * from './ops/elementwise.ts';
export * from './ops/reduce.ts';
export * from './ops/movement.ts';
export * from './ops/matmul.ts';
export * from './ops/nn.ts';
export * from './ops/conv.ts';
export { setWinograd } from './ops/winograd.ts';
export * from './ops/resize.ts';
export * from './ops/sort.ts';
export * from './ops/random.ts';
export * from './optim.ts';
export * from './schedule.ts';
export * from './safetensors.ts';
export { matchByName, problemsError, type MatchOptions, type Shaped } from './named.ts';
export { checkFinite } from './debug.ts';
export { startProfiling, beginProfiledStep, endProfiledStep, stopProfiling, formatProfile, profileSummary, type Profile, type KernelStats } from './profiler.ts';
// Writing kernels of one's own (eval/flow.ts does): compile WGSL with defines, dispatch it on tensors.
export { bindingBudget, compiledSoFar, largestBinding, kernel, dispatch, setBindingBudget, type Kernel } from './kernel.ts';
export * from './ops/gather.ts';
