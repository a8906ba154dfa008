// Node entry point: loads Dawn (npm `webgpu`) and makes it the engine's GPU.
// Only Node code imports this file; shared code uses engine/device.ts.
import { create, globals } from 'webgpu';
import { initDevice, setGPU, type Device } from './device.ts';

// Dawn aborts if the object returned by create([]) is garbage-collected while the device lives,
// so it is kept in a module-level binding for the life of the process.
let dawn: GPU | undefined;

export async function initNode(): Promise<Device> {
  if (!dawn) {
    process.env.XDG_RUNTIME_DIR ??= '/tmp'; // only silences a Dawn warning
    Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, ... as in a browser
    dawn = create([]) as unknown as GPU;
    setGPU(dawn);
  }
  return initDevice();
}
