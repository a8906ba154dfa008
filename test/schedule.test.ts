// Learning-rate schedules at points whose values can be worked out by hand (derivations in comments).
import { describe, expect, test } from 'vitest';
import { cosineLR, polyLR } from '../engine/schedule.ts';

describe('polyLR', () => {
  test('base · (1 − t/T)^power without warm-up', () => {
    expect(polyLR(0, { base: 0.01, total: 100 })).toBe(0.01);
    expect(polyLR(50, { base: 0.01, total: 100, power: 1 })).toBeCloseTo(0.005, 15);
    expect(polyLR(25, { base: 0.01, total: 100, power: 2 })).toBeCloseTo(0.005625, 15); // 0.01 · 0.75²
    // default power 0.9: 0.01 · 0.5^0.9 = 0.01 · 2^−0.9 = 0.01 / 1.866066 = 0.0053588673
    expect(polyLR(50, { base: 0.01, total: 100 })).toBeCloseTo(0.0053588673, 9);
    expect(polyLR(100, { base: 0.01, total: 100 })).toBe(0);
    expect(polyLR(150, { base: 0.01, total: 100 })).toBe(0); // past the end: stays at the final value
  });

  test('linear warm-up from warmupStart, then decay over the remaining steps', () => {
    const o = { base: 0.01, total: 110, warmup: 10, warmupStart: 0.001, power: 1 };
    expect(polyLR(0, o)).toBe(0.001);
    expect(polyLR(5, o)).toBeCloseTo(0.0055, 15); // 0.001 + 0.009 · 5/10
    expect(polyLR(10, o)).toBe(0.01); // continuous: warm-up ends at base, decay starts there
    expect(polyLR(60, o)).toBeCloseTo(0.005, 15); // q = (60 − 10)/(110 − 10) = 0.5
    expect(polyLR(110, o)).toBe(0);
    expect(polyLR(3, { base: 1, total: 20, warmup: 4 })).toBe(0.75); // warmupStart defaults to 0
  });

  test('bad options are named', () => {
    expect(() => polyLR(-1, { base: 0.01, total: 100 })).toThrow(/polyLR: step must be a non-negative number, got -1/);
    expect(() => polyLR(0, { base: 0.01, total: 10, warmup: 10 })).toThrow(/polyLR: total \(10\) must be a number greater than warmup \(10\)/);
    expect(() => polyLR(0, { base: 0.01, total: 10, power: -1 })).toThrow(/polyLR: power must be a non-negative number, got -1/);
  });
});

describe('cosineLR', () => {
  test('min + (base − min) · (1 + cos(π t/T)) / 2 without warm-up', () => {
    expect(cosineLR(0, { base: 1, total: 100 })).toBe(1);
    expect(cosineLR(50, { base: 1, total: 100 })).toBeCloseTo(0.5, 15);
    expect(cosineLR(25, { base: 1, total: 100 })).toBeCloseTo(0.8535533906, 9); // (1 + √2/2) / 2
    expect(cosineLR(75, { base: 1, total: 100 })).toBeCloseTo(0.1464466094, 9); // (1 − √2/2) / 2
    expect(cosineLR(100, { base: 1, total: 100 })).toBe(0);
    expect(cosineLR(50, { base: 1, total: 100, min: 0.1 })).toBeCloseTo(0.55, 15); // 0.1 + 0.9 · 0.5
    expect(cosineLR(500, { base: 1, total: 100, min: 0.1 })).toBeCloseTo(0.1, 15);
  });

  test('linear warm-up, then the cosine over the remaining steps', () => {
    const o = { base: 1, total: 110, warmup: 10 };
    expect(cosineLR(0, o)).toBe(0);
    expect(cosineLR(5, o)).toBe(0.5);
    expect(cosineLR(10, o)).toBe(1);
    expect(cosineLR(35, o)).toBeCloseTo(0.8535533906, 9); // q = 25/100
    expect(cosineLR(2, { ...o, warmupStart: 0.5 })).toBeCloseTo(0.6, 15); // 0.5 + 0.5 · 2/10
  });

  test('bad options are named', () => {
    expect(() => cosineLR(0, { base: 1, total: 100, min: 2 })).toThrow(/cosineLR: min must be in \[0, base = 1\], got 2/);
    expect(() => cosineLR(Number.NaN, { base: 1, total: 100 })).toThrow(/cosineLR: step must be a non-negative number, got NaN/);
    expect(() => cosineLR(0, { base: -1, total: 100 })).toThrow(/cosineLR: base must be a non-negative number, got -1/);
  });
});
