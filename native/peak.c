/*
 * Runs one level's multiply-add loop (peak-level.c) on 1..n POSIX threads at once and times it:
 * the machine's attainable GFLOP/s on one core and on all cores, for `npm run bench`. Threads in
 * C rather than Node worker threads so that every thread starts its loop together and the wall
 * clock covers exactly the loops.
 */
#include <pthread.h>
#include <time.h>

#include "peak.h"

typedef struct {
  PeakLoop loop;
  long steps;
  double flop;
  float sink;
} Job;

static void *run_job(void *arg) {
  Job *j = arg;
  j->flop = j->loop(j->steps, &j->sink);
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One round: every thread runs `steps` steps; the total FLOP over the round's wall time, in GFLOP/s. */
static double round_gflops(PeakLoop loop, int threads, long steps) {
  Job jobs[PEAK_MAX_THREADS];
  pthread_t ids[PEAK_MAX_THREADS];
  double start = now(), flop = 0;
  int started = 0;
  for (int t = 1; t < threads; t++, started++) {
    jobs[t] = (Job){loop, steps, 0, 0};
    if (pthread_create(&ids[t], NULL, run_job, &jobs[t]) != 0) break;
  }
  jobs[0] = (Job){loop, steps, 0, 0};
  run_job(&jobs[0]); /* this thread is one of them */
  for (int t = 1; t <= started; t++) pthread_join(ids[t], NULL);
  if (started != threads - 1) return -1;
  for (int t = 0; t < threads; t++) flop += jobs[t].flop;
  return flop / (now() - start) / 1e9;
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
  double best = 0, end = now() + seconds;
  do {
    double g = round_gflops(loop, threads, steps);
    if (g < 0) return -1;
    if (g > best) best = g;
  } while (now() < end);
  return best;
}
