/*
 * Runs one level's multiply-add loop (peak-level.c) on 1..n POSIX threads at once and times it:
 * the machine's attainable GFLOP/s on one core and on all cores, for `npm run bench`. Threads in
 * C rather than Node worker threads so that every thread starts its loop together and each is
 * timed around exactly its loop.
 */
#include <pthread.h>
#include <time.h>

#include "peak.h"

typedef struct {
  PeakLoop loop;
  long steps;
  double flop, seconds;
  float sink;
} Job;

static double clock_seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double now(void) {
  return clock_seconds(CLOCK_MONOTONIC);
}

/* Times the loop by its thread's CPU time: what its core did while it ran, not how long other processes kept it waiting. */
static void *run_job(void *arg) {
  Job *j = arg;
  double start = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
  j->flop = j->loop(j->steps, &j->sink);
  j->seconds = clock_seconds(CLOCK_THREAD_CPUTIME_ID) - start;
  return NULL;
}

/*
 * One round: every thread runs `steps` steps at once; the sum of the threads' GFLOP/s, each over
 * its own CPU time. Threads that share a core's units (SMT siblings) or its power budget slow each
 * other down and this shows it; other processes taking the cores away do not count.
 */
static double round_gflops(PeakLoop loop, int threads, long steps) {
  Job jobs[PEAK_MAX_THREADS];
  pthread_t ids[PEAK_MAX_THREADS];
  double rate = 0;
  int started = 0;
  for (int t = 1; t < threads; t++, started++) {
    jobs[t] = (Job){loop, steps, 0, 0, 0};
    if (pthread_create(&ids[t], NULL, run_job, &jobs[t]) != 0) break;
  }
  jobs[0] = (Job){loop, steps, 0, 0, 0};
  run_job(&jobs[0]); /* this thread is one of them */
  for (int t = 1; t <= started; t++) pthread_join(ids[t], NULL);
  if (started != threads - 1) return -1;
  for (int t = 0; t < threads; t++)
    if (jobs[t].seconds > 0) rate += jobs[t].flop / jobs[t].seconds / 1e9;
  return rate;
}

double peak_gflops_run(PeakLoop loop, int threads, double seconds) {
  if (threads < 1 || threads > PEAK_MAX_THREADS) return -1;
  /* Rounds of about 20 ms: calibrated on one thread, long enough to hide the thread start. */
  float sink;
  long steps = 1 << 16;
  double t0 = now();
  loop(steps, &sink);
  double took = now() - t0;
  if (took > 0) steps = (long)(steps * (0.02 / took)) + 1;
  /* Rounds until `seconds` of wall time have passed; the best, as the kernel's times are best-of-n. */
  double best = 0, end = now() + seconds;
  do {
    double g = round_gflops(loop, threads, steps);
    if (g < 0) return -1;
    if (g > best) best = g;
  } while (now() < end);
  return best;
}
