import { beforeAll, expect, test } from 'vitest';
import { add, backward, mul, requireGrad, sum, tensor, exp, max, argmax, mean } from '../engine/index.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

test('add, mul, sum and backward', async () => {
  const a = requireGrad(tensor([1, 2, 3, 4, 5, 6], [2, 3]));
  const b = requireGrad(tensor([10, 20, 30], [3]));
  const y = sum(mul(add(a, b), exp(a)));
  backward(y);
  const av = [1, 2, 3, 4, 5, 6], bv = [10, 20, 30, 10, 20, 30];
  const ref = av.reduce((s, x, i) => s + (x + bv[i]!) * Math.exp(x), 0);
  expect(await y.item()).toBeCloseTo(ref, 0);
  const ga = await a.grad!.data();
  ga.forEach((g, i) => expect(g).toBeCloseTo(Math.exp(av[i]!) * (1 + av[i]! + bv[i]!), 1));
  const gb = await b.grad!.data();
  expect([...gb].map((x) => Math.round(x))).toEqual([0, 1, 2].map((j) => Math.round(Math.exp(av[j]!) + Math.exp(av[j + 3]!))));
  expect([...(await max(a, 1).data())]).toEqual([3, 6]);
  expect([...(await argmax(a, 0).data())]).toEqual([1, 1, 1]);
  expect([...(await mean(a, 0).data())]).toEqual([2.5, 3.5, 4.5]);
});
