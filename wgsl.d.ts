// WGSL sources are imported as text: esbuild (scripts/build.mjs) and vite (vitest) both honour `?raw`.
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}

// wgsl_reflect's ES module build (see engine/kernel.ts), typed by the package's own declarations.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
