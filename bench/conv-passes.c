/*
 * The fused CNN kernel's three convolution passes timed one by one, by the thread's CPU time (best
 * of REPEATS), at the shapes of the paper's two CNNs, against a multiply-add peak loop compiled
 * with the same flags (native/peak-level.c). It includes the kernel's source, so it times exactly
 * the code the addon runs at that level; the addon itself only exposes whole steps
 * (bench/pass-times.ts times those).
 *
 *   gcc -O3 -std=gnu11 -fno-math-errno -mavx512f -mfma bench/conv-passes.c -o /tmp/conv-passes -lm && /tmp/conv-passes
 *   (-mavx2 -mfma for the avx2 level; no flags for the baseline)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "../native/fused-cnn.c"
#define CNN_LEVEL bench
#include "../native/peak-level.c"

#define REPEATS 40

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *random_floats(long n) {
  float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
  for (long i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
  return p;
}

static double peak(void) {
  float sink;
  double best = 0;
  for (int r = 0; r < 20; r++) {
    double t = cpu_seconds(), flop = peak_fma_bench(2000000, &sink);
    t = cpu_seconds() - t;
    if (flop / t > best) best = flop / t;
  }
  return best / 1e9;
}

/* Best CPU seconds of each pass over every block, summed over the blocks. */
static double time_passes(const char *name, Arch a, int N, double gpeak) {
  Block b[MAX_BLOCKS];
  block_shapes(&a, b);
  double secs[3] = {0, 0, 0}, flop = 0, flop_in = 0;
  for (int l = 0; l < a.blocks; l++) {
    const Block *k = b + l;
    const int M = N * k->OH * k->OW;
    int *base = malloc(sizeof(int) * M);
    for (int n = 0, p = 0; n < N; n++)
      for (int y = 0; y < k->OH; y++)
        for (int x = 0; x < k->OW; x++, p++) base[p] = (((n * k->PH) + y * k->S) * k->PW + x * k->S) * k->C;
    float *pin = random_floats(pin_floats(k, N)), *dpin = random_floats(pin_floats(k, N));
    float *W = random_floats((long)TAPS * k->C * k->F), *wt = random_floats((long)TAPS * k->C * k->F);
    float *bias = random_floats(k->F), *z = random_floats((long)M * k->F), *dz = random_floats((long)M * k->F);
    float *g = random_floats((long)TAPS * k->C * k->F);
    flop += 2.0 * M * TAPS * k->C * k->F;
    if (l > 0) flop_in += 2.0 * M * TAPS * k->C * k->F;
    for (int pass = 0; pass < 3; pass++) {
      if (pass == 2 && l == 0) continue;
      double best = 1e9;
      for (int r = 0; r < REPEATS; r++) {
        double t = cpu_seconds();
        if (pass == 0) conv_forward(k, M, base, pin, W, bias, z);
        else if (pass == 1) conv_filter_gradient(k, M, base, pin, dz, g);
        else conv_input_gradient(k, M, base, dz, W, wt, dpin);
        t = cpu_seconds() - t;
        if (t < best) best = t;
      }
      secs[pass] += best;
      if (getenv("PER_BLOCK")) printf("  block %d (M %d, C %d, F %d) %-6s %7.3f ms %6.1f%%\n", l, M, k->C, k->F, pass == 0 ? "fwd" : pass == 1 ? "dW" : "dx", best * 1e3, 100 * 2.0 * M * TAPS * k->C * k->F / best / 1e9 / gpeak);
    }
    free(base); free(pin); free(dpin); free(W); free(wt); free(bias); free(z); free(dz); free(g);
  }
  const char *names[3] = {"forward", "filter gradient", "input gradient"};
  for (int pass = 0; pass < 3; pass++) {
    double f = pass == 2 ? flop_in : flop, gf = f / secs[pass] / 1e9;
    printf("%-14s %-16s %8.3f ms %7.1f GFLOP/s %5.1f%% of peak\n", name, names[pass], secs[pass] * 1e3, gf, 100 * gf / gpeak);
  }
  return (secs[0] + secs[1] + secs[2]) * 1e3;
}

/* cnn_predict and cnn_adapt's step (Adam, summed loss, as bench/native-speed.ts), best CPU seconds of REPEATS. */
static void time_whole(const char *name, Arch a, int N, double gpeak, double conv_ms) {
  const int P = param_count(&a), steps = 5;
  const int work = cnn_work_floats(a.H, a.W, a.C, a.F, a.classes, a.blocks, a.stride2, a.pools, N);
  float *params = random_floats(P), *s1 = random_floats(P), *s2 = random_floats(P), *w = random_floats(work);
  float *x = random_floats((long)N * a.H * a.W * a.C), *logits = random_floats((long)N * a.classes), rates[5] = {1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f};
  int labels[64], rows[5 * 64];
  for (int i = 0; i < N; i++) labels[i] = i % a.classes;
  for (int i = 0; i < steps * N; i++) rows[i] = i % N;
  double fwd = 1e9, step = 1e9;
  for (int r = 0; r < REPEATS; r++) {
    double t = cpu_seconds();
    cnn_predict(a.H, a.W, a.C, a.F, a.classes, a.blocks, a.stride2, a.pools, params, x, N, logits, w);
    t = cpu_seconds() - t;
    if (t < fwd) fwd = t;
    for (int i = 0; i < P; i++) s1[i] = s2[i] = 0;
    t = cpu_seconds();
    cnn_adapt(a.H, a.W, a.C, a.F, a.classes, a.blocks, a.stride2, a.pools, 1, OPT_ADAM, rates, 0, 0, 0.999f, 1e-8f, params, s1, s2, x, labels, rows, steps, N, w);
    t = (cpu_seconds() - t) / steps;
    if (t < step) step = t;
  }
  printf("%-14s cnn_predict %8.3f ms, cnn_adapt step %8.3f ms (the three conv passes alone: %.3f ms)\n", name, fwd * 1e3, step * 1e3, conv_ms);
  free(params); free(s1); free(s2); free(w); free(x); free(logits);
}

int main(void) {
  srand(1);
  const double gpeak = peak();
  printf("peak (one thread, CPU time): %.1f GFLOP/s\n", gpeak);
  const Arch omniglot = {28, 28, 1, 64, 5, 4, 15, 0}, mini = {84, 84, 3, 32, 5, 4, 0, 15};
  time_whole("omniglot", omniglot, 10, gpeak, time_passes("omniglot", omniglot, 10, gpeak));
  time_whole("miniimagenet", mini, 10, gpeak, time_passes("miniimagenet", mini, 10, gpeak));
  return 0;
}
