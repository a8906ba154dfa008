// Shared by every test file that touches the GPU.
import { initNode } from '../engine/node.ts';

export async function gpu() {
  return initNode();
}
