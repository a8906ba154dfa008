// Prints the WebGPU adapter Dawn finds (exit 0), or says there is none (exit 1). Used by setup.sh.
import { create, globals } from 'webgpu';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.log('no WebGPU adapter');
  process.exit(1);
}
const i = adapter.info;
console.log(`WebGPU adapter: ${[i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ')}`);
process.exit(0);
