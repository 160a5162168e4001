/*
 * Node-API binding of the fused CNN inner loop (fused-cnn.c), built at install time by node-gyp
 * (binding.gyp) once per instruction-set level (cnn-level.c): the best level the CPU supports
 * runs unless set_cpu_level chooses another (src/kernels/fused-native.ts: REPTILE_CPU).
 *
 * Memory is one ArrayBuffer owned by JavaScript (src/kernels/fused-native.ts), passed first to
 * every call; pointer arguments are byte offsets into it, 0 meaning "none" (the JavaScript arena
 * never hands out offset 0). The same calling convention as the WebAssembly kernels, whose
 * pointers are offsets into the instance's memory, so fused-loop.ts drives both alike.
 */
#include <node_api.h>
#include <stdint.h>

#include <string.h>

#include "cnn-levels.h"
#include "peak.h"

/* The levels built, worst first. */
static const CnnKernels *const LEVELS[] = {
  &cnn_kernels_baseline,
#ifdef CNN_X86_LEVELS
  &cnn_kernels_avx2,
  &cnn_kernels_avx512,
#endif
};
#define LEVEL_COUNT (sizeof LEVELS / sizeof LEVELS[0])

/* Whether this CPU (and its operating system, which must save the wider registers) runs a level: the flags binding.gyp gives it. */
static int cpu_runs(const CnnKernels *k) {
#ifdef CNN_X86_LEVELS
  __builtin_cpu_init();
  if (k == &cnn_kernels_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (k == &cnn_kernels_avx512) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
  return k == &cnn_kernels_baseline;
}

/*
 * The level every call runs, one for the process (worker threads load the addon again and keep
 * it): the best the CPU runs, chosen when the addon is first loaded.
 */
static const CnnKernels *active;

static const CnnKernels *best_level(void) {
  const CnnKernels *best = LEVELS[0];
  for (size_t i = 1; i < LEVEL_COUNT; i++)
    if (cpu_runs(LEVELS[i])) best = LEVELS[i];
  return best;
}

#define MAX_ARGS 26

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  uint8_t *base;
  size_t bytes;
  int failed;
} Call;

static int fail(Call *c, const char *message) {
  if (!c->failed) napi_throw_error(c->env, NULL, message);
  c->failed = 1;
  return 0;
}

/* Reads the arguments; with_memory: the first is the ArrayBuffer. */
static int begin(napi_env env, napi_callback_info info, Call *c, size_t expected, int with_memory) {
  c->env = env;
  c->argc = MAX_ARGS;
  c->failed = 0;
  c->base = NULL;
  c->bytes = 0;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, NULL) != napi_ok) return fail(c, "fused CNN: cannot read the arguments");
  if (c->argc != expected) return fail(c, "fused CNN: wrong number of arguments");
  if (with_memory) {
    void *data;
    bool is_buffer;
    if (napi_is_arraybuffer(env, c->argv[0], &is_buffer) != napi_ok || !is_buffer) return fail(c, "fused CNN: the first argument must be an ArrayBuffer");
    napi_get_arraybuffer_info(env, c->argv[0], &data, &c->bytes);
    c->base = data;
  }
  return 1;
}

static int int_arg(Call *c, size_t i) {
  int32_t v = 0;
  if (napi_get_value_int32(c->env, c->argv[i], &v) != napi_ok) fail(c, "fused CNN: expected an integer argument");
  return v;
}

static float float_arg(Call *c, size_t i) {
  double v = 0;
  if (napi_get_value_double(c->env, c->argv[i], &v) != napi_ok) fail(c, "fused CNN: expected a number argument");
  return (float)v;
}

/* A byte offset into the memory, as a pointer to `bytes` bytes (NULL for offset 0). */
static void *ptr_arg(Call *c, size_t i, size_t bytes) {
  int64_t at = 0;
  if (napi_get_value_int64(c->env, c->argv[i], &at) != napi_ok) return fail(c, "fused CNN: expected an offset"), NULL;
  if (at == 0) return NULL;
  if (at < 0 || (at & 3) || (uint64_t)at + bytes > c->bytes) return fail(c, "fused CNN: an offset lies outside the memory"), NULL;
  return c->base + at;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

/* The architecture's arguments, H, W, C, F, classes, blocks, stride2, pools (fused-cnn.h), from argument `first` on. */
#define ARCH_ARGS 8

typedef struct {
  int a[ARCH_ARGS];
} ArchArgs;

static ArchArgs arch_args(Call *c, size_t first) {
  ArchArgs r;
  for (int i = 0; i < ARCH_ARGS; i++) r.a[i] = int_arg(c, first + i);
  return r;
}

#define ARCH(r) (r).a[0], (r).a[1], (r).a[2], (r).a[3], (r).a[4], (r).a[5], (r).a[6], (r).a[7]

/* The parameter count's bytes for a valid architecture, else 0 after throwing. */
static size_t arch_param_bytes(Call *c, const CnnKernels *k, ArchArgs r) {
  if (c->failed) return 0;
  for (int i = 0; i < 6; i++)
    if (r.a[i] < 1) return fail(c, "fused CNN: a size is not positive"), 0;
  size_t P = (size_t)k->param_count(ARCH(r)) * 4;
  if (P == 0) fail(c, "fused CNN: the kernel cannot take this architecture (filters, blocks or masks)");
  return P;
}

/* cnn_param_count(H, W, C, F, classes, blocks, stride2, pools) and cnn_work_floats(..., batch) */
static napi_value param_count(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, ARCH_ARGS, 0)) return NULL;
  ArchArgs r = arch_args(&c, 0);
  return c.failed ? NULL : number(env, active->param_count(ARCH(r)));
}

static napi_value work_floats(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, ARCH_ARGS + 1, 0)) return NULL;
  ArchArgs r = arch_args(&c, 0);
  int batch = int_arg(&c, ARCH_ARGS);
  return c.failed ? NULL : number(env, active->work_floats(ARCH(r), batch));
}

/*
 * cnn_adapt(memory, H, W, C, F, classes, blocks, stride2, pools, loss, kind, rates, momentum,
 * beta1, beta2, epsilon, params, slot1, slot2, x, labels, rows, steps, batch, work, count): as
 * fused-cnn.c, with the number of examples last so that every region's size is checked before the
 * kernel runs.
 */
static napi_value adapt(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, 26, 1)) return NULL;
  const CnnKernels *k = active; /* one level for the whole call */
  ArchArgs r = arch_args(&c, 1);
  const int H = r.a[0], W = r.a[1], C = r.a[2];
  int loss = int_arg(&c, 9), kind = int_arg(&c, 10);
  int steps = int_arg(&c, 22), batch = int_arg(&c, 23), count = int_arg(&c, 25);
  if (c.failed) return NULL;
  if (steps < 0 || batch < 1 || count < 1) return fail(&c, "fused CNN: a size is not positive"), NULL;
  size_t P = arch_param_bytes(&c, k, r);
  if (c.failed) return NULL;
  size_t work = (size_t)k->work_floats(ARCH(r), batch) * 4;
  const float *rates = ptr_arg(&c, 11, (size_t)steps * 4);
  float momentum = float_arg(&c, 12), beta1 = float_arg(&c, 13), beta2 = float_arg(&c, 14), epsilon = float_arg(&c, 15);
  float *params = ptr_arg(&c, 16, P), *slot1 = ptr_arg(&c, 17, P), *slot2 = ptr_arg(&c, 18, P);
  const float *x = ptr_arg(&c, 19, (size_t)count * H * W * C * 4);
  const int *labels = ptr_arg(&c, 20, (size_t)count * 4), *rows = ptr_arg(&c, 21, (size_t)steps * batch * 4);
  float *scratch = ptr_arg(&c, 24, work);
  if (c.failed) return NULL;
  if (!params || !x || !labels || !rows || !scratch || (steps > 0 && !rates)) return fail(&c, "fused CNN: a required region is missing"), NULL;
  if ((kind >= 1 && !slot1) || (kind == 2 && !slot2)) return fail(&c, "fused CNN: the optimizer's slots are missing"), NULL;
  return number(env, k->adapt(ARCH(r), loss, kind, rates, momentum, beta1, beta2, epsilon, params, slot1, slot2, x, labels, rows, steps, batch, scratch));
}

/* cnn_predict(memory, H, W, C, F, classes, blocks, stride2, pools, params, x, n, logits, work) */
static napi_value predict(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, 14, 1)) return NULL;
  const CnnKernels *k = active; /* one level for the whole call */
  ArchArgs r = arch_args(&c, 1);
  const int H = r.a[0], W = r.a[1], C = r.a[2], classes = r.a[4], n = int_arg(&c, 11);
  if (c.failed) return NULL;
  if (n < 1) return fail(&c, "fused CNN: a size is not positive"), NULL;
  size_t P = arch_param_bytes(&c, k, r);
  if (c.failed) return NULL;
  const float *params = ptr_arg(&c, 9, P);
  const float *x = ptr_arg(&c, 10, (size_t)n * H * W * C * 4);
  float *logits = ptr_arg(&c, 12, (size_t)n * classes * 4);
  float *scratch = ptr_arg(&c, 13, (size_t)k->work_floats(ARCH(r), n) * 4);
  if (c.failed) return NULL;
  if (!params || !x || !logits || !scratch) return fail(&c, "fused CNN: a required region is missing"), NULL;
  k->predict(ARCH(r), params, x, n, logits, scratch);
  return NULL;
}

/* add_into(memory, acc, x, n) and divide_by(memory, acc, d, n) */
static napi_value add_into(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, 4, 1)) return NULL;
  int n = int_arg(&c, 3);
  float *acc = ptr_arg(&c, 1, (size_t)n * 4);
  const float *x = ptr_arg(&c, 2, (size_t)n * 4);
  if (c.failed || !acc || !x) return fail(&c, "fused CNN: add_into needs two regions"), NULL;
  active->add_into(acc, x, n);
  return NULL;
}

static napi_value divide_by(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, 4, 1)) return NULL;
  int n = int_arg(&c, 3);
  float *acc = ptr_arg(&c, 1, (size_t)n * 4);
  float d = float_arg(&c, 2);
  if (c.failed || !acc) return fail(&c, "fused CNN: divide_by needs a region"), NULL;
  active->divide_by(acc, d, n);
  return NULL;
}

static napi_value string(napi_env env, const char *s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* cpu_levels(): the names of the levels this CPU runs, worst first. */
static napi_value cpu_levels(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_array(env, &out);
  uint32_t n = 0;
  for (size_t i = 0; i < LEVEL_COUNT; i++)
    if (cpu_runs(LEVELS[i])) napi_set_element(env, out, n++, string(env, LEVELS[i]->name));
  return out;
}

/* cpu_level(): the name of the level that runs. */
static napi_value cpu_level(napi_env env, napi_callback_info info) {
  (void)info;
  return string(env, active->name);
}

/* set_cpu_level(name): runs that level from now on, in every thread; refused for a level this CPU does not run. */
static napi_value set_cpu_level(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, 1, 0)) return NULL;
  char name[32];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, c.argv[0], name, sizeof name, &length) != napi_ok) return fail(&c, "fused CNN: set_cpu_level takes a level's name"), NULL;
  for (size_t i = 0; i < LEVEL_COUNT; i++)
    if (strcmp(name, LEVELS[i]->name) == 0 && cpu_runs(LEVELS[i])) {
      active = LEVELS[i];
      return NULL;
    }
  return fail(&c, "fused CNN: this CPU or build has no such level (cpu_levels() lists those it has)"), NULL;
}

/* The multiply-add loop built at the same level as a kernel table (peak-level.c). */
static PeakLoop peak_loop(const CnnKernels *k) {
#ifdef CNN_X86_LEVELS
  if (k == &cnn_kernels_avx2) return peak_fma_avx2;
  if (k == &cnn_kernels_avx512) return peak_fma_avx512;
#endif
  (void)k;
  return peak_fma_baseline;
}

/* peak_gflops(seconds, threads): the attainable GFLOP/s at the level that runs, on that many threads at once (peak.c). */
static napi_value peak_gflops(napi_env env, napi_callback_info info) {
  Call c;
  if (!begin(env, info, &c, 2, 0)) return NULL;
  double seconds = float_arg(&c, 0);
  int threads = int_arg(&c, 1);
  if (c.failed) return NULL;
  if (!(seconds > 0 && seconds <= 600) || threads < 1 || threads > PEAK_MAX_THREADS) return fail(&c, "peak_gflops: seconds must be in (0, 600] and threads in 1..256"), NULL;
  double g = peak_gflops_run(peak_loop(active), threads, seconds);
  if (g < 0) return fail(&c, "peak_gflops: cannot start the threads"), NULL;
  return number(env, g);
}

NAPI_MODULE_INIT() {
  if (!active) active = best_level();
  napi_property_descriptor props[] = {
    {"cnn_param_count", NULL, param_count, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cnn_work_floats", NULL, work_floats, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cnn_adapt", NULL, adapt, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cnn_predict", NULL, predict, NULL, NULL, NULL, napi_enumerable, NULL},
    {"add_into", NULL, add_into, NULL, NULL, NULL, napi_enumerable, NULL},
    {"divide_by", NULL, divide_by, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cpu_levels", NULL, cpu_levels, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cpu_level", NULL, cpu_level, NULL, NULL, NULL, napi_enumerable, NULL},
    {"set_cpu_level", NULL, set_cpu_level, NULL, NULL, NULL, napi_enumerable, NULL},
    {"peak_gflops", NULL, peak_gflops, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
