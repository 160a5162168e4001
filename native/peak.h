/*
 * The attainable-peak measurement (peak-level.c, one copy per instruction-set level; peak.c runs
 * it on threads): what `npm run bench` compares the CNN kernel's speed with.
 */
#ifndef PEAK_H
#define PEAK_H

/* One level's multiply-add loop: runs `steps` steps, returns the FLOP done, writes its result to *sink. */
typedef double (*PeakLoop)(long steps, float *sink);

extern double peak_fma_baseline(long steps, float *sink);
#ifdef CNN_X86_LEVELS
extern double peak_fma_avx2(long steps, float *sink);
extern double peak_fma_avx512(long steps, float *sink);
#endif

/*
 * GFLOP/s of `loop` on `threads` threads at once (1..PEAK_MAX_THREADS): rounds of a fixed number
 * of steps per thread, for about `seconds` in all; the best round's sum of the threads' rates, each
 * timed by its own CPU time (peak.c). Returns a negative number when a thread cannot start.
 */
#define PEAK_MAX_THREADS 256
double peak_gflops_run(PeakLoop loop, int threads, double seconds);

#endif
