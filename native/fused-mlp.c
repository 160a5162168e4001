/*
 * The whole inner loop of an MLP in one call: k optimizer steps on minibatches of one task
 * (forward pass, loss, backward pass, update), in WebAssembly SIMD (f32x4).
 *
 * Why by hand: at few-shot sizes (10 examples x 784 inputs) a training step is about a million
 * multiply-adds, which TensorFlow.js spreads over ~100 kernels whose dispatch and bookkeeping cost
 * more than the arithmetic, and tfjs-wasm's matrix product repacks the weights for every new
 * weight tensor (every step, in training). Here a step is three dense-layer passes over memory that
 * stays in cache, and each weight row is updated by the optimizer as soon as its gradient is
 * known, so gradients are never stored.
 *
 * Freestanding (no libc): built by scripts/build-wasm.sh with Debian's clang and wasm-ld; the few
 * transcendental functions it needs are at the bottom, in double precision.
 *
 * Semantics (what src/algorithms/inner-loop.ts computes with tfjs, to float32 rounding):
 *   layers l = 0..L-1: z_l = h_l W_l + b_l, h_{l+1} = act(z_l) (no activation after the last);
 *   W_l is [in, out] row-major, parameters laid out W_0, b_0, W_1, b_1, ... in one array, the
 *   optimizer's slots the same way; loss = cross-entropy of softmax (integer labels) or squared
 *   error (per-example mean over outputs), averaged or summed over the minibatch;
 *   SGD p -= lr g; momentum v = mu v + g, p -= lr v; Adam (TF1's form, as src/nn/optimizers.ts)
 *   m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= step_t m / (sqrt(v) + eps), with step_t
 *   computed by the caller per step.
 */
#include <wasm_simd128.h>

enum { ACT_RELU = 0, ACT_TANH = 1 };
enum { LOSS_CE_MEAN = 0, LOSS_CE_SUM = 1, LOSS_MSE_MEAN = 2, LOSS_MSE_SUM = 3 };
enum { OPT_SGD = 0, OPT_MOMENTUM = 1, OPT_ADAM = 2 };

typedef struct {
  int kind;
  float rate; /* this step's lr (SGD) or step_t (Adam) */
  float momentum, beta1, beta2, epsilon;
} Update;

#include "freestanding-math.h"

#define LOAD(p) wasm_v128_load(p)
#define STORE(p, v) wasm_v128_store((p), (v))
#define MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))

/* C[M,N] = A[M,K] W[K,N] + bias[N]. Blocks of 2 rows x 16 columns keep 8 accumulators in registers. */
static void dense_forward(int M, int K, int N, const float *A, const float *W, const float *bias, float *C) {
  int j = 0;
  for (; j + 16 <= N; j += 16) {
    int i = 0;
    for (; i + 2 <= M; i += 2) {
      const float *a0 = A + i * K, *a1 = a0 + K;
      v128_t c00 = LOAD(bias + j), c01 = LOAD(bias + j + 4), c02 = LOAD(bias + j + 8), c03 = LOAD(bias + j + 12);
      v128_t c10 = c00, c11 = c01, c12 = c02, c13 = c03;
      for (int k = 0; k < K; k++) {
        const float *w = W + k * N + j;
        v128_t w0 = LOAD(w), w1 = LOAD(w + 4), w2 = LOAD(w + 8), w3 = LOAD(w + 12);
        v128_t s0 = wasm_f32x4_splat(a0[k]), s1 = wasm_f32x4_splat(a1[k]);
        c00 = MADD(c00, s0, w0); c01 = MADD(c01, s0, w1); c02 = MADD(c02, s0, w2); c03 = MADD(c03, s0, w3);
        c10 = MADD(c10, s1, w0); c11 = MADD(c11, s1, w1); c12 = MADD(c12, s1, w2); c13 = MADD(c13, s1, w3);
      }
      float *c0 = C + i * N + j, *c1 = c0 + N;
      STORE(c0, c00); STORE(c0 + 4, c01); STORE(c0 + 8, c02); STORE(c0 + 12, c03);
      STORE(c1, c10); STORE(c1 + 4, c11); STORE(c1 + 8, c12); STORE(c1 + 12, c13);
    }
    for (; i < M; i++) {
      const float *a0 = A + i * K;
      v128_t c00 = LOAD(bias + j), c01 = LOAD(bias + j + 4), c02 = LOAD(bias + j + 8), c03 = LOAD(bias + j + 12);
      for (int k = 0; k < K; k++) {
        const float *w = W + k * N + j;
        v128_t s0 = wasm_f32x4_splat(a0[k]);
        c00 = MADD(c00, s0, LOAD(w)); c01 = MADD(c01, s0, LOAD(w + 4)); c02 = MADD(c02, s0, LOAD(w + 8)); c03 = MADD(c03, s0, LOAD(w + 12));
      }
      float *c0 = C + i * N + j;
      STORE(c0, c00); STORE(c0 + 4, c01); STORE(c0 + 8, c02); STORE(c0 + 12, c03);
    }
  }
  for (; j + 4 <= N; j += 4) {
    for (int i = 0; i < M; i++) {
      const float *a0 = A + i * K;
      v128_t c = LOAD(bias + j);
      for (int k = 0; k < K; k++) c = MADD(c, wasm_f32x4_splat(a0[k]), LOAD(W + k * N + j));
      STORE(C + i * N + j, c);
    }
  }
  for (; j < N; j++) {
    for (int i = 0; i < M; i++) {
      const float *a0 = A + i * K;
      float c = bias[j];
      for (int k = 0; k < K; k++) c += a0[k] * W[k * N + j];
      C[i * N + j] = c;
    }
  }
}

static void activate(int act, float *h, int n) {
  if (act == ACT_RELU) {
    int i = 0;
    v128_t zero = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= n; i += 4) STORE(h + i, wasm_f32x4_max(LOAD(h + i), zero));
    for (; i < n; i++) h[i] = h[i] > 0.0f ? h[i] : 0.0f;
    return;
  }
  for (int i = 0; i < n; i++) {
    double x = h[i], t = exp_d(-2.0 * (x < 0 ? -x : x));
    double r = (1.0 - t) / (1.0 + t);
    h[i] = (float)(x < 0 ? -r : r);
  }
}

/* dz *= act'(z), from the activation's output h: relu' = [h > 0], tanh' = 1 - h^2. */
static void activation_backward(int act, float *dz, const float *h, int n) {
  int i = 0;
  if (act == ACT_RELU) {
    v128_t zero = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= n; i += 4) STORE(dz + i, wasm_v128_and(LOAD(dz + i), wasm_f32x4_gt(LOAD(h + i), zero)));
    for (; i < n; i++) dz[i] = h[i] > 0.0f ? dz[i] : 0.0f;
    return;
  }
  v128_t one = wasm_f32x4_splat(1.0f);
  for (; i + 4 <= n; i += 4) {
    v128_t hv = LOAD(h + i);
    STORE(dz + i, wasm_f32x4_mul(LOAD(dz + i), wasm_f32x4_sub(one, wasm_f32x4_mul(hv, hv))));
  }
  for (; i < n; i++) dz[i] *= 1.0f - h[i] * h[i];
}

/* The loss of a minibatch (returned) and its gradient with respect to the outputs z [M, N]. */
static double loss_and_gradient(int loss, int M, int N, const float *z, const float *yf, const int *yi, const int *rows, float *dz) {
  double total = 0.0;
  int mean = loss == LOSS_CE_MEAN || loss == LOSS_MSE_MEAN;
  float scale = mean ? 1.0f / (float)M : 1.0f;
  for (int i = 0; i < M; i++) {
    const float *zi = z + i * N;
    float *di = dz + i * N;
    if (loss == LOSS_CE_MEAN || loss == LOSS_CE_SUM) {
      int label = yi[rows[i]];
      float max = zi[0];
      for (int c = 1; c < N; c++) max = zi[c] > max ? zi[c] : max;
      double sum = 0.0;
      for (int c = 0; c < N; c++) sum += exp_d((double)zi[c] - max);
      for (int c = 0; c < N; c++) di[c] = (float)(exp_d((double)zi[c] - max) / sum) * scale;
      di[label] -= scale;
      total += log_d(sum) + max - zi[label];
    } else {
      const float *yrow = yf + rows[i] * N;
      double sq = 0.0;
      float g = 2.0f / (float)N * scale;
      for (int c = 0; c < N; c++) {
        float e = zi[c] - yrow[c];
        sq += (double)e * e;
        di[c] = g * e;
      }
      total += sq / N;
    }
  }
  return mean ? total / M : total;
}

/* p, s1, s2 <- one optimizer update with gradient g, over n elements. */
static void update(const Update *u, float *p, float *s1, float *s2, const float *g, int n) {
  int i = 0;
  v128_t rate = wasm_f32x4_splat(u->rate);
  if (u->kind == OPT_SGD) {
    for (; i + 4 <= n; i += 4) STORE(p + i, wasm_f32x4_sub(LOAD(p + i), wasm_f32x4_mul(rate, LOAD(g + i))));
    for (; i < n; i++) p[i] -= u->rate * g[i];
  } else if (u->kind == OPT_MOMENTUM) {
    v128_t mu = wasm_f32x4_splat(u->momentum);
    for (; i + 4 <= n; i += 4) {
      v128_t v = MADD(LOAD(g + i), mu, LOAD(s1 + i));
      STORE(s1 + i, v);
      STORE(p + i, wasm_f32x4_sub(LOAD(p + i), wasm_f32x4_mul(rate, v)));
    }
    for (; i < n; i++) {
      s1[i] = u->momentum * s1[i] + g[i];
      p[i] -= u->rate * s1[i];
    }
  } else {
    /* beta1 = 0 (the paper's Adam): m = g exactly, and m's old value is not read (clang unswitches the loop). */
    int m_is_g = u->beta1 == 0.0f;
    float c1 = 1.0f - u->beta1, c2 = 1.0f - u->beta2;
    v128_t b1 = wasm_f32x4_splat(u->beta1), b2 = wasm_f32x4_splat(u->beta2), vc1 = wasm_f32x4_splat(c1), vc2 = wasm_f32x4_splat(c2);
    v128_t eps = wasm_f32x4_splat(u->epsilon);
    for (; i + 4 <= n; i += 4) {
      v128_t gv = LOAD(g + i);
      v128_t m = m_is_g ? gv : wasm_f32x4_add(wasm_f32x4_mul(b1, LOAD(s1 + i)), wasm_f32x4_mul(vc1, gv));
      v128_t v = wasm_f32x4_add(wasm_f32x4_mul(b2, LOAD(s2 + i)), wasm_f32x4_mul(vc2, wasm_f32x4_mul(gv, gv)));
      STORE(s1 + i, m);
      STORE(s2 + i, v);
      v128_t step = wasm_f32x4_div(wasm_f32x4_mul(rate, m), wasm_f32x4_add(wasm_f32x4_sqrt(v), eps));
      STORE(p + i, wasm_f32x4_sub(LOAD(p + i), step));
    }
    for (; i < n; i++) {
      float m = m_is_g ? g[i] : u->beta1 * s1[i] + c1 * g[i];
      float v = u->beta2 * s2[i] + c2 * (g[i] * g[i]); /* as the vector lanes: c2 (g g) */
      s1[i] = m;
      s2[i] = v;
      p[i] -= u->rate * m / (__builtin_sqrtf(v) + u->epsilon);
    }
  }
}

/* g[N] = sum_i h[i, k] dz[i, :] : row k of h^T dz, the kernel gradient's row k. */
static void kernel_gradient_row(int M, int K, int N, const float *h, int k, const float *dz, float *g) {
  int j = 0;
  for (; j + 16 <= N; j += 16) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < M; i++) {
      v128_t s = wasm_f32x4_splat(h[i * K + k]);
      const float *d = dz + i * N + j;
      a0 = MADD(a0, s, LOAD(d)); a1 = MADD(a1, s, LOAD(d + 4)); a2 = MADD(a2, s, LOAD(d + 8)); a3 = MADD(a3, s, LOAD(d + 12));
    }
    STORE(g + j, a0); STORE(g + j + 4, a1); STORE(g + j + 8, a2); STORE(g + j + 12, a3);
  }
  for (; j + 4 <= N; j += 4) {
    v128_t a = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < M; i++) a = MADD(a, wasm_f32x4_splat(h[i * K + k]), LOAD(dz + i * N + j));
    STORE(g + j, a);
  }
  for (; j < N; j++) {
    float a = 0.0f;
    for (int i = 0; i < M; i++) a += h[i * K + k] * dz[i * N + j];
    g[j] = a;
  }
}

/* Rows k and k + 1 of h^T dz at once: each dz load serves both (the widest layer's backward pass). */
static void kernel_gradient_rows2(int M, int K, int N, const float *h, int k, const float *dz, float *g0, float *g1) {
  int j = 0;
  for (; j + 16 <= N; j += 16) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int i = 0; i < M; i++) {
      v128_t s = wasm_f32x4_splat(h[i * K + k]), t = wasm_f32x4_splat(h[i * K + k + 1]);
      const float *d = dz + i * N + j;
      v128_t d0 = LOAD(d), d1 = LOAD(d + 4), d2 = LOAD(d + 8), d3 = LOAD(d + 12);
      a0 = MADD(a0, s, d0); a1 = MADD(a1, s, d1); a2 = MADD(a2, s, d2); a3 = MADD(a3, s, d3);
      b0 = MADD(b0, t, d0); b1 = MADD(b1, t, d1); b2 = MADD(b2, t, d2); b3 = MADD(b3, t, d3);
    }
    STORE(g0 + j, a0); STORE(g0 + j + 4, a1); STORE(g0 + j + 8, a2); STORE(g0 + j + 12, a3);
    STORE(g1 + j, b0); STORE(g1 + j + 4, b1); STORE(g1 + j + 8, b2); STORE(g1 + j + 12, b3);
  }
  if (j < N) {
    /* The columns left: one row at a time, same arithmetic as kernel_gradient_row. */
    for (; j + 4 <= N; j += 4) {
      v128_t a = wasm_f32x4_splat(0.0f), b = a;
      for (int i = 0; i < M; i++) {
        v128_t d = LOAD(dz + i * N + j);
        a = MADD(a, wasm_f32x4_splat(h[i * K + k]), d);
        b = MADD(b, wasm_f32x4_splat(h[i * K + k + 1]), d);
      }
      STORE(g0 + j, a);
      STORE(g1 + j, b);
    }
    for (; j < N; j++) {
      float a = 0.0f, b = 0.0f;
      for (int i = 0; i < M; i++) {
        a += h[i * K + k] * dz[i * N + j];
        b += h[i * K + k + 1] * dz[i * N + j];
      }
      g0[j] = a;
      g1[j] = b;
    }
  }
}

static float dot(const float *a, const float *b, int n) {
  int j = 0;
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (; j + 4 <= n; j += 4) acc = MADD(acc, LOAD(a + j), LOAD(b + j));
  float s = (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) + (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3));
  for (; j < n; j++) s += a[j] * b[j];
  return s;
}

/*
 * Backward pass through one dense layer and its update, row by row of W [K, N]: with the old row,
 * the input gradient dh[:, k] = dz W[k, :]^T (when dh is wanted); then the row's gradient and its
 * optimizer update. g is scratch for two rows (2N floats).
 */
static void dense_backward_update(const Update *u, int M, int K, int N, const float *h, const float *dz, float *dh,
                                  float *W, float *b, float *s1W, float *s1b, float *s2W, float *s2b, float *g) {
  int k = 0;
  for (; k + 2 <= K; k += 2) {
    float *w = W + k * N;
    if (dh)
      for (int i = 0; i < M; i++) {
        dh[i * K + k] = dot(dz + i * N, w, N);
        dh[i * K + k + 1] = dot(dz + i * N, w + N, N);
      }
    kernel_gradient_rows2(M, K, N, h, k, dz, g, g + N);
    update(u, w, s1W ? s1W + k * N : 0, s2W ? s2W + k * N : 0, g, 2 * N);
  }
  for (; k < K; k++) {
    float *w = W + k * N;
    if (dh)
      for (int i = 0; i < M; i++) dh[i * K + k] = dot(dz + i * N, w, N);
    kernel_gradient_row(M, K, N, h, k, dz, g);
    update(u, w, s1W ? s1W + k * N : 0, s2W ? s2W + k * N : 0, g, N);
  }
  for (int j = 0; j < N; j++) {
    float s = 0.0f;
    for (int i = 0; i < M; i++) s += dz[i * N + j];
    g[j] = s;
  }
  update(u, b, s1b, s2b, g, N);
}

/*
 * Runs `steps` optimizer steps; minibatch s is examples rows[s*batch .. (s+1)*batch) of x [count,
 * sizes[0]] with targets yf [count, sizes[L]] (squared error) or labels yi [count] (cross-entropy).
 * params/slot1/slot2 are updated in place (slot1: momentum's velocity or Adam's m; slot2: Adam's
 * v). rates[s] is step s's learning rate (SGD) or step size (Adam). work must hold
 * workFloats(...) floats (see fused-mlp.ts). Returns the sum over steps of the minibatch losses.
 */
double mlp_adapt(int layers, const int *sizes, int act, int loss, int kind, const float *rates, float momentum,
                 float beta1, float beta2, float epsilon, float *params, float *slot1, float *slot2, const float *x,
                 const float *yf, const int *yi, const int *rows, int steps, int batch, float *work) {
  int widest = 0;
  for (int l = 0; l <= layers; l++) widest = sizes[l] > widest ? sizes[l] : widest;
  /* work: h_0 .. h_{L} (h_L holds the outputs z), then dz, dh, g. */
  float *h[64];
  float *cursor = work;
  for (int l = 0; l <= layers; l++) {
    h[l] = cursor;
    cursor += batch * sizes[l];
  }
  float *dz = cursor, *dh = dz + batch * widest, *g = dh + batch * widest;

  Update u = {kind, 0.0f, momentum, beta1, beta2, epsilon};
  double total = 0.0;
  int in = sizes[0];
  for (int s = 0; s < steps; s++) {
    const int *r = rows + s * batch;
    for (int i = 0; i < batch; i++) {
      const float *src = x + r[i] * in;
      float *dst = h[0] + i * in;
      for (int c = 0; c < in; c++) dst[c] = src[c];
    }
    const float *p = params;
    for (int l = 0; l < layers; l++) {
      int K = sizes[l], N = sizes[l + 1];
      dense_forward(batch, K, N, h[l], p, p + K * N, h[l + 1]);
      if (l < layers - 1) activate(act, h[l + 1], batch * N);
      p += K * N + N;
    }
    total += loss_and_gradient(loss, batch, sizes[layers], h[layers], yf, yi, r, dz);

    u.rate = rates[s];
    /* Offsets of layer l's kernel in params (and the slots); walk backwards from the end. */
    int offset = 0;
    for (int l = 0; l < layers; l++) offset += sizes[l] * sizes[l + 1] + sizes[l + 1];
    for (int l = layers - 1; l >= 0; l--) {
      int K = sizes[l], N = sizes[l + 1];
      offset -= K * N + N;
      float *W = params + offset, *b = W + K * N;
      float *s1W = slot1 ? slot1 + offset : 0, *s2W = slot2 ? slot2 + offset : 0;
      dense_backward_update(&u, batch, K, N, h[l], dz, l > 0 ? dh : 0, W, b, s1W, s1W ? s1W + K * N : 0, s2W,
                            s2W ? s2W + K * N : 0, g);
      if (l > 0) {
        activation_backward(act, dh, h[l], batch * K);
        float *t = dz; dz = dh; dh = t;
      }
    }
  }
  return total;
}

/* Floats of scratch mlp_adapt needs. */
int work_floats(int layers, const int *sizes, int batch) {
  int widest = 0, total = 0;
  for (int l = 0; l <= layers; l++) {
    widest = sizes[l] > widest ? sizes[l] : widest;
    total += batch * sizes[l];
  }
  return total + 2 * batch * widest + 2 * widest;
}

/*
 * Element-wise float32 arithmetic for the meta-update on the host (src/kernels/host-arithmetic.ts):
 * the same operations in the same order as src/core/host-params.ts, so the same bits, faster.
 */
void add_into(float *acc, const float *x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) STORE(acc + i, wasm_f32x4_add(LOAD(acc + i), LOAD(x + i)));
  for (; i < n; i++) acc[i] += x[i];
}

void divide_by(float *acc, float d, int n) {
  int i = 0;
  v128_t dv = wasm_f32x4_splat(d);
  for (; i + 4 <= n; i += 4) STORE(acc + i, wasm_f32x4_div(LOAD(acc + i), dv));
  for (; i < n; i++) acc[i] /= d;
}

/* out = a - b */
void subtract(float *out, const float *a, const float *b, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) STORE(out + i, wasm_f32x4_sub(LOAD(a + i), LOAD(b + i)));
  for (; i < n; i++) out[i] = a[i] - b[i];
}

/* out = a + u t: the outer update theta + eps u (with u = b - a, the same bits as interpolate) */
void add_scaled(float *out, const float *a, const float *u, float t, int n) {
  int i = 0;
  v128_t tv = wasm_f32x4_splat(t);
  for (; i + 4 <= n; i += 4) STORE(out + i, wasm_f32x4_add(LOAD(a + i), wasm_f32x4_mul(LOAD(u + i), tv)));
  for (; i < n; i++) out[i] = a[i] + u[i] * t;
}
