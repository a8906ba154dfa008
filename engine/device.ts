// The one place that talks to WebGPU's adapter and device.
//
// Shared by Node and browsers: it never imports `node:` modules or the `webgpu` package. In a browser
// the GPU comes from `navigator.gpu`; in Node, engine/node.ts installs Dawn's GPU with `setGPU` first.
//
// Errors: WebGPU reports validation and out-of-memory errors asynchronously. We collect them, tagged
// with the op that caused them, and throw the first one at the next flush or read-back (see
// scheduler.ts), so a user sees "matmul [8,64]x[65,16]: ..." instead of a silent wrong answer.

export interface DeviceInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
  /** true when the adapter is a CPU implementation (lavapipe, SwiftShader); reported only (kernels ask loopKernelsFast). */
  isCPU: boolean;
  /** true on Mesa's lavapipe (llvmpipe), whose code generation some kernels are built around. */
  isLavapipe: boolean;
}

let gpuProvider: GPU | undefined;
let current: Device | undefined;

/** Install the GPU entry point (Node: Dawn's `create([])`). Browsers need not call this. */
export function setGPU(gpu: GPU): void {
  gpuProvider = gpu;
}

export class Device {
  readonly gpu: GPUDevice;
  readonly info: DeviceInfo;
  lost: GPUDeviceLostInfo | undefined;
  private errors: Error[] = [];

  constructor(gpu: GPUDevice, info: DeviceInfo) {
    this.gpu = gpu;
    this.info = info;
    gpu.lost.then((l) => {
      this.lost = l;
    });
    gpu.addEventListener('uncapturederror', (ev) => {
      this.errors.push(new Error(`WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message}`));
    });
  }

  /** Throws if the device is lost: every op calls this first, so the message names the op. */
  checkAlive(what: string): void {
    if (this.lost) {
      throw new Error(
        `${what}: the WebGPU device was lost (${this.lost.reason}: ${this.lost.message}). ` +
          `Tensors on it are gone; call initDevice() again and reload parameters from a checkpoint.`,
      );
    }
  }

  /** Run `fn` inside validation + out-of-memory error scopes; errors are reported later, tagged with `what`. */
  scoped<T>(what: string, fn: () => T): T {
    const d = this.gpu;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    const out = fn();
    for (let i = 0; i < 2; i++) {
      d.popErrorScope().then((e) => {
        if (e) this.errors.push(new Error(`${what}: ${e instanceof GPUOutOfMemoryError ? 'out of GPU memory' : 'WebGPU validation error'}: ${e.message}`));
      });
    }
    return out;
  }

  /** Throw the first error WebGPU reported since the last call (scheduler.sync waits for the queue first). */
  throwPending(): void {
    if (this.errors.length) {
      const [first, ...rest] = this.errors;
      this.errors = [];
      if (rest.length) first!.message += ` (and ${rest.length} more error(s))`;
      throw first;
    }
  }
}

const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. In Node this needs a Vulkan driver: on Debian 12 run `bash scripts/setup.sh` ' +
  '(it installs Mesa lavapipe from bookworm-backports; Debian\'s own Mesa 22 is too old for Dawn). ' +
  'In a browser, use a recent Chrome/Edge (or Chromium with --enable-unsafe-webgpu, Firefox Nightly with dom.webgpu.enabled).';

function findGPU(): GPU {
  if (gpuProvider) return gpuProvider;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  throw new Error(
    'WebGPU is not available: no navigator.gpu. In Node, import engine/node.ts (it loads Dawn from the `webgpu` package). ' +
      NO_ADAPTER_HELP,
  );
}

const adapterText = (info: GPUAdapterInfo) => `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();

/**
 * Get an adapter and a device with the adapter's full limits (lavapipe allows 16 storage buffers a
 * stage where the default is 8), and make it the engine's current device.
 */
export async function initDevice(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<Device> {
  if (current && !current.lost) return current;
  const gpu = findGPU();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const limits: Record<string, number> = {};
  const wanted = [
    'maxStorageBuffersPerShaderStage',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupsPerDimension',
    'maxUniformBufferBindingSize',
    'maxBindGroups',
  ] as const;
  for (const k of wanted) limits[k] = adapter.limits[k];
  const features = [...adapter.features] as string[];
  const requiredFeatures = features.filter((f) => f === 'timestamp-query') as GPUFeatureName[];
  const dev = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures });
  const ai = adapter.info;
  const info: DeviceInfo = {
    vendor: ai.vendor,
    architecture: ai.architecture,
    device: ai.device,
    description: ai.description,
    features,
    limits,
    isCPU: /llvmpipe|lavapipe|swiftshader|cpu|mesa.*software/.test(adapterText(ai)),
    isLavapipe: /llvmpipe|lavapipe/.test(adapterText(ai)),
  };
  current = new Device(dev, info);
  return current;
}

/** The device ops run on. Throws a clear error if initDevice() has not been awaited. */
export function device(): Device {
  if (!current) throw new Error('No WebGPU device: `await initDevice()` (or initNode() in Node) before using tensors.');
  return current;
}

let loopsForced: boolean | undefined;

/**
 * Whether this adapter runs kernels built on inner loops well: the 'tiled' matmul, fused attention.
 * Not on lavapipe, where a storage load at a computed address costs ~10 instructions and only
 * straight-line code with constant-address workgroup loads is fast (engine/ops/matmul.ts): there the
 * 'unrolled' matmul and attention composed of matmuls are used. SwiftShader, also a CPU, runs loops
 * well (its 'tiled' matmul is 8× faster than 'unrolled'). setLoopKernelsFast forces an answer (tests).
 */
export function loopKernelsFast(): boolean {
  return loopsForced ?? !device().info.isLavapipe;
}

/** Force loopKernelsFast's answer; undefined restores the adapter's. */
export function setLoopKernelsFast(fast: boolean | undefined): void {
  loopsForced = fast;
}

/** One line for logs: "lavapipe (llvmpipe ...) on vulkan, 16 storage buffers/stage". */
export function describeDevice(d: Device = device()): string {
  const i = d.info;
  const name = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unknown adapter';
  return `${name}${i.isCPU ? ' (CPU adapter)' : ''}; maxStorageBuffersPerShaderStage=${i.limits.maxStorageBuffersPerShaderStage}, maxBufferSize=${i.limits.maxBufferSize}`;
}
