/*
 * The machine's attainable peak for one instruction-set level: a loop of independent
 * multiply-adds on the level's widest vectors, compiled by binding.gyp into each level's static
 * library with that level's flags, as the CNN kernel is (cnn-level.c), so it measures the
 * arithmetic the kernel can reach at the level it runs. `npm run bench` reports the CNN's
 * GFLOP/s as a fraction of it (bench/peak.ts). Hand-written: no library measures this per level.
 *
 * CHAINS accumulators each take acc = acc * m + c per step. They are independent, so the core
 * keeps as many multiply-adds in flight as it has ports x latency (2 x 4 = 8 on a CPU with two
 * FMA units; 12 chains cover it and fit in 16 registers with m and c). Where the level has FMA
 * (avx2, avx512; arm64's baseline) the compiler contracts the pair into one FMA (-std=gnu11
 * contracts by default); x86-64's baseline (SSE2) issues a multiply and an add. Either way a
 * step is 2 FLOP per lane.
 */
#define PEAK_JOIN2(a, b) a##_##b
#define PEAK_JOIN(a, b) PEAK_JOIN2(a, b)

#if defined(__AVX512F__)
#define PEAK_VW 16
#elif defined(__AVX__)
#define PEAK_VW 8
#else
#define PEAK_VW 4
#endif
#define CHAINS 12

typedef float pv __attribute__((vector_size(PEAK_VW * 4)));

/*
 * Runs `steps` steps of every chain; returns the FLOP done. `sink` receives the chains' sum, so
 * the compiler cannot drop the loop (objdump shows the FMAs: docs/performance.md).
 */
double PEAK_JOIN(peak_fma, CNN_LEVEL)(long steps, float *sink) {
  pv acc[CHAINS], m, c;
  for (int i = 0; i < PEAK_VW; i++) {
    m[i] = 0.999999f;
    c[i] = 1e-6f * (float)(i + 1);
  }
  for (int k = 0; k < CHAINS; k++)
    for (int i = 0; i < PEAK_VW; i++) acc[k][i] = (float)(k + i) * 0.01f;
  for (long s = 0; s < steps; s++) {
    for (int k = 0; k < CHAINS; k++) acc[k] = acc[k] * m + c;
  }
  pv total = acc[0];
  for (int k = 1; k < CHAINS; k++) total += acc[k];
  float sum = 0;
  for (int i = 0; i < PEAK_VW; i++) sum += total[i];
  *sink = sum;
  return 2.0 * PEAK_VW * CHAINS * (double)steps;
}
