// The CPU's own ceiling for the instruction pattern that lavapipe compiles the 'cpu' matmul kernel
// to (a vmulps with a broadcast memory operand and a vaddps per multiply-add, 24 accumulators of 8
// lanes), with no WebGPU in between: in a loop (the code stays in the µop cache) and as straight-line
// code of KC·24 multiply-adds with constant offsets, as the kernel's generated WGSL is (KC = 128:
// ~100 KB of code, more than the 32 KB instruction cache; KC = 32: ~27 KB).
// Not part of npm run bench (it needs a C compiler):
//   gcc -O2 -ffp-contract=off -mavx2 bench/cpu-peak.c -o /tmp/cpu-peak && /tmp/cpu-peak
// Run two at once (/tmp/cpu-peak & /tmp/cpu-peak & wait) for both cores.
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define BN 24
static float ys[128 * BN];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// One lane-vector's work for a chunk of KC: out[j] = Σ_k x[k] · ys[k·BN + j], fully unrolled.
#define STRAIGHT(KC)                                                                   \
  __attribute__((noinline)) static void straight##KC(const __m256 *x, __m256 *out) {   \
    __m256 c[BN];                                                                      \
    for (int j = 0; j < BN; j++) c[j] = _mm256_setzero_ps();                           \
    _Pragma("GCC unroll 128") for (int k = 0; k < KC; k++) {                           \
      _Pragma("GCC unroll 24") for (int j = 0; j < BN; j++)                            \
        c[j] = _mm256_add_ps(c[j], _mm256_mul_ps(x[k], _mm256_broadcast_ss(&ys[k * BN + j]))); \
    }                                                                                  \
    for (int j = 0; j < BN; j++) out[j] = c[j];                                        \
  }
STRAIGHT(128)
STRAIGHT(32)

int main(void) {
  for (int i = 0; i < 128 * BN; i++) ys[i] = 1e-6f * i;
  __m256 x[128], out[BN];
  for (int k = 0; k < 128; k++) x[k] = _mm256_set1_ps(1.0f + 1e-3f * k);

  // Looped: the same 24 multiply-adds per k, over and over (small code).
  __m256 c[BN];
  for (int j = 0; j < BN; j++) c[j] = _mm256_setzero_ps();
  long n = 20000000;
  double t0 = now();
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 24
    for (int j = 0; j < BN; j++) c[j] = _mm256_add_ps(c[j], _mm256_mul_ps(x[0], _mm256_broadcast_ss(&ys[j])));
    __asm__ volatile("" ::: "memory");
  }
  double s = now() - t0;
  float sink = 0;
  for (int j = 0; j < BN; j++) sink += c[j][0]; // every accumulator is used, so none is optimised away
  printf("looped (code in the µop cache):    %5.1f GFLOP/s on one core\n", n * BN * 16.0 / s / 1e9);

  long reps[2] = {200000, 800000};
  void (*fns[2])(const __m256 *, __m256 *) = {straight128, straight32};
  int kcs[2] = {128, 32};
  for (int v = 0; v < 2; v++) {
    t0 = now();
    for (long i = 0; i < reps[v]; i++) {
      fns[v](x, out);
      __asm__ volatile("" ::: "memory");
    }
    s = now() - t0;
    sink += out[0][0];
    printf("straight-line, KC = %3d:            %5.1f GFLOP/s on one core\n", kcs[v], reps[v] * kcs[v] * BN * 16.0 / s / 1e9);
  }
  return sink == 12345.0f;
}
