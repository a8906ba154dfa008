// The engine's public surface. Node programs also import './node.ts' (initNode) to load Dawn.
export { initDevice, device, describeDevice, setGPU, type Device, type DeviceInfo } from './device.ts';
export { Tensor, tensor, tidy, keep, assignData, sizeOf, shapeStr, sameShape, type Shape } from './tensor.ts';
export type { DType } from './dtype.ts';
export { backward, noGrad, detach, record, requireGrad, zeroGrad, isGradEnabled } from './autograd.ts';
export { memoryStats, pool } from './memory.ts';
export { sync, scheduler } from './scheduler.ts';
export * from './ops/creation.ts';
export * from './ops/elementwise.ts';
export * from './ops/reduce.ts';
