/*
 * The whole inner loop of the paper's Omniglot CNN in one call: k optimizer steps on minibatches
 * of one task (forward pass, loss, backward pass, update), in portable C with GCC/clang vector
 * types, so one source builds natively (AVX-512 or AVX2 with FMA, via node-gyp at install time:
 * binding.gyp, native/node-addon.c) and to 4-wide WebAssembly SIMD (scripts/build-wasm.sh), which
 * pages and machines without a compiler use.
 *
 * Why by hand: a training step of this CNN on 10 images is about 80 million multiply-adds in
 * three convolution passes per layer (forward, filter gradient, input gradient). TensorFlow.js's
 * wasm backend runs them at 4-wide SIMD without FMA and has no filter-gradient kernel of its own;
 * tfjs-node would need a binary download. Here each pass is a register-blocked product on
 * memory laid out for it (zero-padded inputs, so no bounds tests), with the machine's widest
 * vectors and fused multiply-adds.
 *
 * The network (src/nn/conv.ts's variants 'omniglot' and 'miniimagenet', and converted models of the
 * same family): input [H, W, C]; `blocks` x [conv 3x3, F filters, stride 1 or 2, TensorFlow's
 * 'same' padding, with bias -> batch norm with the batch's statistics (biased variance, epsilon
 * 1e-3) -> optionally max-pool 2x2 stride 2 'same' -> ReLU] -> flatten (h, w, c order) ->
 * dense(classes); softmax cross-entropy on integer labels, averaged or summed over the minibatch.
 * The architecture is a small descriptor: the block count and two bit masks, bit l of `stride2`
 * set when block l has stride 2 (else 1), bit l of `pools` when it max-pools. Parameters in one
 * array: for each block conv kernel [3, 3, Cin, F] (HWIO), conv bias [F], gamma [F], beta [F];
 * then the dense kernel [features, classes] and bias [classes]; optimizer slots the same way.
 * SGD p -= lr g; momentum v = mu v + g, p -= lr v; Adam (TF1's form, as src/nn/optimizers.ts)
 * m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= step_t m / (sqrt(v) + eps).
 */
#include "fused-cnn.h"

#ifdef __wasm__
/* The WebAssembly build is freestanding (no libc). */
#include "freestanding-math.h"
#define EXP exp_d
#define LOG log_d
#else
#include <math.h>
#define EXP exp
#define LOG log
#endif
#define SQRTF __builtin_sqrtf

#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX__)
#define VW 8
#else
#define VW 4
#endif
/* Batch norm keeps per-channel vectors on the stack: F / VW of them, at most MAX_VECTORS. */
#define MAX_VECTORS 64
/* Columns per register block: NV vectors. Rows per block: R. */
#define NV 4
#define CB (NV * VW)
#if VW == 16
#define R 6
#else
#define R 3
#endif


typedef float vf __attribute__((vector_size(VW * 4)));
typedef float vfu __attribute__((vector_size(VW * 4), aligned(4)));
typedef int vi __attribute__((vector_size(VW * 4)));
#define VLOAD(p) (*(const vfu *)(p))
#define VSTORE(p, v) (*(vfu *)(p) = (v))
#define VZERO ((vf){0})
#define VSPLAT(s) (VZERO + (s))
/* x where the lane's condition (a comparison of vectors) holds, else +0. */
#define VSELECT(cond, x) ((vf)((vi)(x) & (cond)))
/* x where the condition holds, else y. */
#define VBLEND(cond, x, y) ((vf)(((vi)(x) & (cond)) | ((vi)(y) & ~(cond))))

/* The most blocks a descriptor's bit masks name. */
#define MAX_BLOCKS 16
#define TAPS 9

enum { LOSS_CE_MEAN = 0, LOSS_CE_SUM = 1 };
enum { OPT_SGD = 0, OPT_MOMENTUM = 1, OPT_ADAM = 2 };

/*
 * One conv block's shapes. The input is kept zero-padded: [N, PH, PW, C] with PH = S (OH - 1) + 3.
 * The conv output is [N, OH, OW, F]; the block's output (pooled or not) [N, QH, QW, F].
 */
typedef struct {
  int H, W, C, OH, OW, F, S, pool, QH, QW, pad_top, pad_left, PH, PW;
} Block;

/* The network's architecture, as the entry points' arguments give it. */
typedef struct {
  int H, W, C, F, classes, blocks, stride2, pools;
} Arch;

static int same_out(int in, int s) { return (in + s - 1) / s; }

static void block_shapes(const Arch *a, Block *b) {
  int H = a->H, W = a->W, C = a->C;
  const int F = a->F;
  for (int l = 0; l < a->blocks; l++) {
    Block *k = b + l;
    k->H = H; k->W = W; k->C = C; k->F = F; k->S = (a->stride2 >> l) & 1 ? 2 : 1;
    k->pool = (a->pools >> l) & 1;
    k->OH = same_out(H, k->S); k->OW = same_out(W, k->S);
    int pad_h = (k->OH - 1) * k->S + 3 - H, pad_w = (k->OW - 1) * k->S + 3 - W;
    if (pad_h < 0) pad_h = 0;
    if (pad_w < 0) pad_w = 0;
    k->pad_top = pad_h / 2; k->pad_left = pad_w / 2;
    k->PH = (k->OH - 1) * k->S + 3; k->PW = (k->OW - 1) * k->S + 3;
    if (k->PH < k->pad_top + H) k->PH = k->pad_top + H;
    if (k->PW < k->pad_left + W) k->PW = k->pad_left + W;
    /* Max-pool 2x2 stride 2 'same': windows start at even rows and columns, the padding (for odd sizes) at the end. */
    k->QH = k->pool ? same_out(k->OH, 2) : k->OH;
    k->QW = k->pool ? same_out(k->OW, 2) : k->OW;
    H = k->QH; W = k->QW; C = F;
  }
}

/*
 * The parameter count, or 0 for architectures the kernel cannot take: filters not whole vectors
 * or more than batch norm's stack holds, a block count outside 1 .. MAX_BLOCKS, a mask naming
 * blocks that do not exist.
 */
static int param_count(const Arch *a) {
  if (a->F % VW != 0 || a->F > MAX_VECTORS * VW || a->blocks < 1 || a->blocks > MAX_BLOCKS) return 0;
  if (((a->stride2 | a->pools) >> a->blocks) != 0 || a->stride2 < 0 || a->pools < 0) return 0;
  Block b[MAX_BLOCKS];
  block_shapes(a, b);
  int total = 0;
  for (int l = 0; l < a->blocks; l++) total += TAPS * b[l].C * a->F + 3 * a->F;
  const Block *last = b + a->blocks - 1;
  return total + last->QH * last->QW * a->F * a->classes + a->classes;
}

int cnn_param_count(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools) {
  Arch a = {H, W, C, F, classes, blocks, stride2, pools};
  return param_count(&a);
}

/* The scratch regions, in floats, for minibatches of N (cnn_adapt lays them out the same way). */
typedef struct {
  float *pin[MAX_BLOCKS + 1]; /* padded inputs of each block; pin[blocks] = the flat features */
  float *xhat[MAX_BLOCKS];    /* normalised conv outputs [M, F] */
  float *rstd[MAX_BLOCKS];
  float *dpin;            /* padded input gradient (the largest block's size, or the features') */
  float *dy, *dz;         /* [M, F] */
  float *wt;              /* transposed kernel [9][F][C] */
  float *g;               /* gradient of every parameter */
  float *logits;
  int *base[MAX_BLOCKS];  /* each output pixel's offset in the padded input */
  float *end;
} Scratch;

static long pin_floats(const Block *k, int N) { return (long)N * k->PH * k->PW * k->C; }

/* Writes through s: a copy of the struct would call memcpy, which the freestanding wasm build lacks. */
static void scratch_layout(Scratch *s, const Block *b, int blocks, int N, int classes, int P, float *work) {
  float *c = work;
  long widest_pin = 0, widest_m = 0;
  for (int l = 0; l < blocks; l++) {
    s->pin[l] = c; c += (pin_floats(b + l, N) + 15) & ~15L;
    if (pin_floats(b + l, N) > widest_pin) widest_pin = pin_floats(b + l, N);
    long m = (long)N * b[l].OH * b[l].OW * b[l].F;
    if (m > widest_m) widest_m = m;
  }
  const Block *last = b + blocks - 1;
  const long features = (long)N * last->QH * last->QW * last->F;
  if (features > widest_pin) widest_pin = features;
  s->pin[blocks] = c; c += (features + 15) & ~15L;
  for (int l = 0; l < blocks; l++) {
    long m = (long)N * b[l].OH * b[l].OW * b[l].F;
    s->xhat[l] = c; c += (m + 15) & ~15L;
    s->rstd[l] = c; c += (b[l].F + 15) & ~15L;
    s->base[l] = (int *)c; c += ((long)N * b[l].OH * b[l].OW + 15) & ~15L;
  }
  s->dpin = c; c += (widest_pin + 15) & ~15L;
  s->dy = c; c += (widest_m + 15) & ~15L;
  s->dz = c; c += (widest_m + 15) & ~15L;
  long wt = 0;
  for (int l = 0; l < blocks; l++) if ((long)TAPS * b[l].C * b[l].F > wt) wt = (long)TAPS * b[l].C * b[l].F;
  s->wt = c; c += (wt + 15) & ~15L;
  s->g = c; c += (P + 15) & ~15L;
  s->logits = c; c += ((long)N * classes + 15) & ~15L;
  s->end = c;
}

int cnn_work_floats(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, int batch) {
  Arch a = {H, W, C, F, classes, blocks, stride2, pools};
  if (param_count(&a) == 0) return 0;
  Block b[MAX_BLOCKS];
  block_shapes(&a, b);
  Scratch s;
  scratch_layout(&s, b, blocks, batch, classes, param_count(&a), 0);
  return (int)(s.end - (float *)0);
}

/* ---- the three convolution passes ---- */

/*
 * Each pass is a product blocked in registers: RB rows (pixels or channels) x NVB vectors of
 * columns (filters or channels), RB * NVB accumulators. Whole blocks have NVB = NV and RB = R;
 * narrower column blocks (32 filters at AVX-512's 16 floats, the columns left of a multiple of
 * CB) take more rows, ROWS(NVB), so that they still keep about R * NV accumulators busy. The block
 * functions are inlined with RB and NVB constants, so their loops unroll into registers.
 */
#define ROWS(nvb) ((R * NV) / (nvb))
#define MAX_ROWS (R * NV)

/* Calls BLOCK(nvb) with nvb the compile-time constant equal to `nv` (1 .. NV). */
#define WITH_NV(nv, BLOCK) \
  do { \
    switch (nv) { \
      case 1: BLOCK(1); break; \
      case 2: BLOCK(2); break; \
      case 3: BLOCK(3); break; \
      default: BLOCK(NV); break; \
    } \
  } while (0)

/* The number of vectors in the column block from f0 of n columns: NV, or what is left. */
static int block_vectors(int f0, int n) {
  int nv = (n - f0) / VW;
  return nv > NV ? NV : nv;
}

/* z[p .. p + RB) over filters f0 .. f0 + NVB VW: bias + sum over taps and channels of pin * W. */
__attribute__((always_inline)) static inline void forward_block(int RB, int NVB, int p, int f0, int C, int F, const int *base, const int *toff, const float *pin, const float *Wt, const float *bias, float *z) {
  vf acc[MAX_ROWS][NV];
  for (int v = 0; v < NVB; v++) {
    vf bv = VLOAD(bias + f0 + v * VW);
    for (int r = 0; r < RB; r++) acc[r][v] = bv;
  }
  for (int t = 0; t < TAPS; t++) {
    const float *a[MAX_ROWS];
    for (int r = 0; r < RB; r++) a[r] = pin + base[p + r] + toff[t];
    const float *w = Wt + (long)t * C * F + f0;
    for (int c = 0; c < C; c++, w += F) {
      vf wv[NV];
      for (int v = 0; v < NVB; v++) wv[v] = VLOAD(w + v * VW);
      for (int r = 0; r < RB; r++) {
        vf s = VSPLAT(a[r][c]);
        for (int v = 0; v < NVB; v++) acc[r][v] += s * wv[v];
      }
    }
  }
  for (int r = 0; r < RB; r++)
    for (int v = 0; v < NVB; v++) VSTORE(z + (long)(p + r) * F + f0 + v * VW, acc[r][v]);
}

/*
 * z[p, :] = bias + sum over taps t and channels c of pin[base[p] + toff(t) + c] * W[t, c, :], for
 * the M output pixels.
 */
static void conv_forward(const Block *k, int M, const int *base, const float *pin, const float *Wt, const float *bias, float *z) {
  const int C = k->C, F = k->F, PW = k->PW;
  int toff[TAPS];
  for (int t = 0; t < TAPS; t++) toff[t] = ((t / 3) * PW + (t % 3)) * C;
  for (int f0 = 0; f0 < F;) {
    const int nv = block_vectors(f0, F);
#define FORWARD_COLUMNS(nvb) \
    { \
      int p = 0; \
      for (; p + ROWS(nvb) <= M; p += ROWS(nvb)) forward_block(ROWS(nvb), nvb, p, f0, C, F, base, toff, pin, Wt, bias, z); \
      for (; p < M; p++) forward_block(1, nvb, p, f0, C, F, base, toff, pin, Wt, bias, z); \
    }
    WITH_NV(nv, FORWARD_COLUMNS);
#undef FORWARD_COLUMNS
    f0 += nv * VW;
  }
}

/*
 * One block of the filter gradient: rows c .. c + RB - 1 of g[t] over filter columns f0 ..
 * f0 + NVB * VW - 1, summing over pixels p0 .. p1 - 1 onto what the pixels before p0 summed
 * (stored and reloaded as floats: the same additions in the same order as one pass).
 */
__attribute__((always_inline)) static inline void filter_gradient_block(int RB, int NVB, int p0, int p1, int F, const int *base, const float *pin_t, const float *dz, int c, int f0, float *gt) {
  vf acc[MAX_ROWS][NV];
  for (int r = 0; r < RB; r++)
    for (int v = 0; v < NVB; v++) acc[r][v] = p0 == 0 ? VZERO : VLOAD(gt + (long)(c + r) * F + f0 + v * VW);
  for (int p = p0; p < p1; p++) {
    const float *a = pin_t + base[p] + c;
    const float *d = dz + (long)p * F + f0;
    vf dv[NV];
    for (int v = 0; v < NVB; v++) dv[v] = VLOAD(d + v * VW);
    for (int r = 0; r < RB; r++) {
      vf s = VSPLAT(a[r]);
      for (int v = 0; v < NVB; v++) acc[r][v] += s * dv[v];
    }
  }
  for (int r = 0; r < RB; r++)
    for (int v = 0; v < NVB; v++) VSTORE(gt + (long)(c + r) * F + f0 + v * VW, acc[r][v]);
}

/* Pixels per chunk of the filter gradient: dz's rows for them (128-256 KB) stay in cache over the 9 taps. */
#define PIXEL_CHUNK 1024

/*
 * The filter gradient: g[t, c, :] = sum over pixels p of pin[base[p] + toff(t) + c] * dz[p, :].
 * One row of taps (ty) at a time: its 3 taps x C channels are 3C rows that lie next to each other
 * both in the padded input (toff(3 ty + tx) + c = ty PW C + tx C + c) and in g, so they block as
 * one run of rows: 3C, whole blocks for C = 32 or 64, 3 or 9 rows together for a 1- or 3-channel
 * input instead of 1 or 3 per tap. Blocks of ROWS rows (then R, then 4, then the 1 to 3 left) x a
 * column block, the pixels in the inner loop, a chunk of pixels at a time (on large images, 84x84,
 * dz no longer fits in cache, and each row of taps would read it from memory again). Each of g's
 * sums still adds the pixels in order, so the blocking changes no bit of it.
 */
static void conv_filter_gradient(const Block *k, int M, const int *base, const float *pin, const float *dz, float *g) {
  const int C = k->C, F = k->F, PW = k->PW, rows = 3 * C;
  for (int p0 = 0; p0 < M; p0 += PIXEL_CHUNK) {
    const int p1 = p0 + PIXEL_CHUNK < M ? p0 + PIXEL_CHUNK : M;
    for (int ty = 0; ty < 3; ty++) {
      const float *pin_t = pin + (long)ty * PW * C;
      float *gt = g + (long)ty * rows * F;
      for (int f0 = 0; f0 < F;) {
        const int nv = block_vectors(f0, F);
#define FILTER_COLUMNS(nvb) \
        { \
          int c = 0; \
          if (ROWS(nvb) != R) \
            for (; c + ROWS(nvb) <= rows; c += ROWS(nvb)) filter_gradient_block(ROWS(nvb), nvb, p0, p1, F, base, pin_t, dz, c, f0, gt); \
          for (; c + R <= rows; c += R) filter_gradient_block(R, nvb, p0, p1, F, base, pin_t, dz, c, f0, gt); \
          for (; c + 4 <= rows; c += 4) filter_gradient_block(4, nvb, p0, p1, F, base, pin_t, dz, c, f0, gt); \
          if (c + 3 == rows) filter_gradient_block(3, nvb, p0, p1, F, base, pin_t, dz, c, f0, gt), c += 3; \
          if (c + 2 == rows) filter_gradient_block(2, nvb, p0, p1, F, base, pin_t, dz, c, f0, gt), c += 2; \
          for (; c < rows; c++) filter_gradient_block(1, nvb, p0, p1, F, base, pin_t, dz, c, f0, gt); \
        }
        WITH_NV(nv, FILTER_COLUMNS);
#undef FILTER_COLUMNS
        f0 += nv * VW;
      }
    }
  }
}

/* dpin at rows p .. p + RB - 1 (scattered by tap) += dz[p, :] wt[t, :, c0 .. c0 + NVB VW). */
__attribute__((always_inline)) static inline void input_gradient_block(int RB, int NVB, int p, int c0, int C, int F, const int *base, const int *toff, const float *dz, const float *wt, float *dpin) {
  for (int t = 0; t < TAPS; t++) {
    vf acc[MAX_ROWS][NV];
    for (int r = 0; r < RB; r++)
      for (int v = 0; v < NVB; v++) acc[r][v] = VZERO;
    const float *w = wt + (long)t * F * C + c0;
    for (int f = 0; f < F; f++, w += C) {
      vf wv[NV];
      for (int v = 0; v < NVB; v++) wv[v] = VLOAD(w + v * VW);
      for (int r = 0; r < RB; r++) {
        vf s = VSPLAT(dz[(long)(p + r) * F + f]);
        for (int v = 0; v < NVB; v++) acc[r][v] += s * wv[v];
      }
    }
    for (int r = 0; r < RB; r++) {
      float *out = dpin + base[p + r] + toff[t] + c0;
      for (int v = 0; v < NVB; v++) VSTORE(out + v * VW, VLOAD(out + v * VW) + acc[r][v]);
    }
  }
}

/*
 * Transposes the VW x VW tile at `in` (rows `is` floats apart) into `out` (rows `os` apart), in
 * registers: at each stage h = VW/2 .. 1, rows i and i + h swap their off-diagonal h x h blocks.
 * A scalar transpose of a 64-filter kernel cost about as much as a tenth of its input gradient.
 */
#define LOW_LANE(h, l) (((l) & (h)) ? VW + (l) - (h) : (l))
#define HIGH_LANE(h, l) (((l) & (h)) ? VW + (l) : (l) + (h))
#if VW == 16
#define LANES(M, h) M(h, 0), M(h, 1), M(h, 2), M(h, 3), M(h, 4), M(h, 5), M(h, 6), M(h, 7), M(h, 8), M(h, 9), M(h, 10), M(h, 11), M(h, 12), M(h, 13), M(h, 14), M(h, 15)
#elif VW == 8
#define LANES(M, h) M(h, 0), M(h, 1), M(h, 2), M(h, 3), M(h, 4), M(h, 5), M(h, 6), M(h, 7)
#else
#define LANES(M, h) M(h, 0), M(h, 1), M(h, 2), M(h, 3)
#endif
#define TRANSPOSE_STAGE(h) \
  for (int i = 0; i < VW; i++) \
    if (!(i & (h))) { \
      vf a = r[i], b = r[i + (h)]; \
      r[i] = __builtin_shufflevector(a, b, LANES(LOW_LANE, h)); \
      r[i + (h)] = __builtin_shufflevector(a, b, LANES(HIGH_LANE, h)); \
    }

static inline void transpose_tile(const float *in, long is, float *out, long os) {
  vf r[VW];
  for (int i = 0; i < VW; i++) r[i] = VLOAD(in + i * is);
#if VW == 16
  TRANSPOSE_STAGE(8)
#endif
#if VW >= 8
  TRANSPOSE_STAGE(4)
#endif
  TRANSPOSE_STAGE(2)
  TRANSPOSE_STAGE(1)
  for (int i = 0; i < VW; i++) VSTORE(out + i * os, r[i]);
}

/*
 * The input gradient, scattered into the padded layout: dpin[base[p] + toff(t) + :] +=
 * sum_f dz[p, f] * W[t, :, f], with W transposed to wt [t][F][C] so that the inner loop is a
 * product like the forward pass. For one tap, different pixels write different rows, so a block's
 * rows never overlap. Only blocks after the first take it, so C (the filters before) is whole vectors.
 */
static void conv_input_gradient(const Block *k, int M, const int *base, const float *dz, const float *Wt, float *wt, float *dpin) {
  const int C = k->C, F = k->F, PW = k->PW;
  for (int t = 0; t < TAPS; t++)
    for (int c = 0; c < C; c += VW)
      for (int f = 0; f < F; f += VW) transpose_tile(Wt + ((long)t * C + c) * F + f, F, wt + ((long)t * F + f) * C + c, C);
  int toff[TAPS];
  for (int t = 0; t < TAPS; t++) toff[t] = ((t / 3) * PW + (t % 3)) * C;
  for (int c0 = 0; c0 < C;) {
    const int nv = block_vectors(c0, C);
#define INPUT_COLUMNS(nvb) \
    { \
      int p = 0; \
      for (; p + ROWS(nvb) <= M; p += ROWS(nvb)) input_gradient_block(ROWS(nvb), nvb, p, c0, C, F, base, toff, dz, wt, dpin); \
      for (; p < M; p++) input_gradient_block(1, nvb, p, c0, C, F, base, toff, dz, wt, dpin); \
    }
    WITH_NV(nv, INPUT_COLUMNS);
#undef INPUT_COLUMNS
    c0 += nv * VW;
  }
}

/* ---- batch norm, ReLU, the dense layer and the loss ---- */

/* Batch norm's output for one vector of channels: one function, so that the max-pool's backward pass recomputes the forward's values exactly. */
static inline vf bn_out(vf gamma, vf xhat, vf beta) { return gamma * xhat + beta; }

/*
 * Where the block's output goes: the next block's padded input, or the flat features. Pixel
 * (n, y, x) of the block's output (pooled or not) is at ((n PH + y + top) PW + x + left) F.
 */
typedef struct {
  int PH, PW, top, left;
} Next;

static long next_at(const Next *o, int F, int n, int y, int x) {
  return (((long)n * o->PH + y + o->top) * o->PW + x + o->left) * F;
}

/*
 * Normalises z [M, F] in place into xhat with the batch's mean and biased variance, keeps
 * 1 / sqrt(var + eps), and writes relu(gamma xhat + beta) into the next block's padded input
 * (or the flat features), max-pooled 2x2 first where the block pools. Every pass walks the rows
 * in order with the channels in vectors, so each channel's sums are taken over the pixels in
 * order, as a scalar loop would.
 */
static void batch_norm_relu_forward(const Block *k, int N, float *z, float *rstd, const float *gamma, const float *beta, float *next, const Next *o) {
  const int F = k->F, M = N * k->OH * k->OW, V = F / VW;
  vf mean[MAX_VECTORS], sq[MAX_VECTORS], scale[MAX_VECTORS];
  for (int v = 0; v < V; v++) mean[v] = sq[v] = VZERO;
  for (int p = 0; p < M; p++)
    for (int v = 0; v < V; v++) mean[v] += VLOAD(z + (long)p * F + v * VW);
  for (int v = 0; v < V; v++) mean[v] /= (float)M;
  for (int p = 0; p < M; p++)
    for (int v = 0; v < V; v++) {
      vf d = VLOAD(z + (long)p * F + v * VW) - mean[v];
      sq[v] += d * d;
    }
  for (int v = 0; v < V; v++) {
    for (int i = 0; i < VW; i++) rstd[v * VW + i] = 1.0f / SQRTF(sq[v][i] / M + 1e-3f);
    scale[v] = VLOAD(rstd + v * VW);
  }
  if (!k->pool) {
    for (int n = 0, p = 0; n < N; n++)
      for (int y = 0; y < k->OH; y++)
        for (int x = 0; x < k->OW; x++, p++) {
          float *h = z + (long)p * F;
          float *out = next + next_at(o, F, n, y, x);
          for (int v = 0; v < V; v++) {
            vf xhat = (VLOAD(h + v * VW) - mean[v]) * scale[v];
            VSTORE(h + v * VW, xhat);
            vf a = bn_out(VLOAD(gamma + v * VW), xhat, VLOAD(beta + v * VW));
            VSTORE(out + v * VW, VSELECT(a > 0.0f, a));
          }
        }
    return;
  }
  for (int p = 0; p < M; p++)
    for (int v = 0; v < V; v++) VSTORE(z + (long)p * F + v * VW, (VLOAD(z + (long)p * F + v * VW) - mean[v]) * scale[v]);
  /* Each window's maximum (its first tap always lies inside), then ReLU: relu(max) = max(relu). */
  for (int n = 0; n < N; n++)
    for (int qy = 0; qy < k->QH; qy++)
      for (int qx = 0; qx < k->QW; qx++) {
        float *out = next + next_at(o, F, n, qy, qx);
        const long p0 = ((long)n * k->OH + 2 * qy) * k->OW + 2 * qx;
        const int rows = 2 * qy + 1 < k->OH ? 2 : 1, cols = 2 * qx + 1 < k->OW ? 2 : 1;
        for (int v = 0; v < V; v++) {
          const vf g = VLOAD(gamma + v * VW), b = VLOAD(beta + v * VW);
          vf best = bn_out(g, VLOAD(z + p0 * F + v * VW), b);
          for (int t = 1; t < 4; t++) {
            if ((t >> 1) >= rows || (t & 1) >= cols) continue;
            vf a = bn_out(g, VLOAD(z + (p0 + (t >> 1) * k->OW + (t & 1)) * F + v * VW), b);
            best = VBLEND(a > best, a, best);
          }
          VSTORE(out + v * VW, VSELECT(best > 0.0f, best));
        }
      }
}

/*
 * The max-pool's and ReLU's backward pass: dy [M, F] (the gradient of batch norm's output) from
 * da (the block output's gradient, in the next block's layout). Each window's gradient goes to its
 * first maximum in row-major order (a strictly greater tap wins), as TensorFlow.js's MaxPoolGrad
 * routes it, where the maximum (the ReLU's input) is positive; every other tap gets 0.
 */
static void max_pool_relu_backward(const Block *k, int N, const float *xhat, const float *gamma, const float *beta, const float *act, const float *da, const Next *o, float *dy) {
  const int F = k->F, V = F / VW;
  for (int n = 0; n < N; n++)
    for (int qy = 0; qy < k->QH; qy++)
      for (int qx = 0; qx < k->QW; qx++) {
        const long at = next_at(o, F, n, qy, qx);
        const long p0 = ((long)n * k->OH + 2 * qy) * k->OW + 2 * qx;
        const int rows = 2 * qy + 1 < k->OH ? 2 : 1, cols = 2 * qx + 1 < k->OW ? 2 : 1;
        for (int v = 0; v < V; v++) {
          const vf g = VLOAD(gamma + v * VW), b = VLOAD(beta + v * VW);
          const vf d = VSELECT(VLOAD(act + at + v * VW) > 0.0f, VLOAD(da + at + v * VW));
          vf best = bn_out(g, VLOAD(xhat + p0 * F + v * VW), b);
          vi which = (vi){0};
          for (int t = 1; t < 4; t++) {
            if ((t >> 1) >= rows || (t & 1) >= cols) continue;
            vf a = bn_out(g, VLOAD(xhat + (p0 + (t >> 1) * k->OW + (t & 1)) * F + v * VW), b);
            vi wins = a > best;
            best = VBLEND(wins, a, best);
            which = (which & ~wins) | (((vi){0} + t) & wins);
          }
          for (int t = 0; t < 4; t++) {
            if ((t >> 1) >= rows || (t & 1) >= cols) continue;
            VSTORE(dy + (p0 + (t >> 1) * k->OW + (t & 1)) * F + v * VW, VSELECT(which == t, d));
          }
        }
      }
}

/*
 * From the gradient of the block's output (da, read in the next block's padded layout) to the
 * conv output's: dgamma, dbeta, the bias gradient, and dz [M, F].
 */
static void batch_norm_relu_backward(const Block *k, int N, const float *xhat, const float *rstd, const float *gamma, const float *beta, const float *act, const float *da, const Next *o, float *dy, float *dz, float *gbias, float *ggamma, float *gbeta) {
  const int F = k->F, M = N * k->OH * k->OW, V = F / VW;
  vf sg[MAX_VECTORS], sb[MAX_VECTORS], sz[MAX_VECTORS];
  for (int v = 0; v < V; v++) sg[v] = sb[v] = sz[v] = VZERO;
  if (!k->pool) {
    for (int n = 0, p = 0; n < N; n++)
      for (int y = 0; y < k->OH; y++)
        for (int x = 0; x < k->OW; x++, p++) {
          long at = next_at(o, F, n, y, x);
          for (int v = 0; v < V; v++) {
            vf d = VSELECT(VLOAD(act + at + v * VW) > 0.0f, VLOAD(da + at + v * VW));
            VSTORE(dy + (long)p * F + v * VW, d);
            sb[v] += d;
            sg[v] += d * VLOAD(xhat + (long)p * F + v * VW);
          }
        }
  } else {
    max_pool_relu_backward(k, N, xhat, gamma, beta, act, da, o, dy);
    for (int p = 0; p < M; p++)
      for (int v = 0; v < V; v++) {
        vf d = VLOAD(dy + (long)p * F + v * VW);
        sb[v] += d;
        sg[v] += d * VLOAD(xhat + (long)p * F + v * VW);
      }
  }
  vf scale[MAX_VECTORS], mb[MAX_VECTORS], mg[MAX_VECTORS];
  for (int v = 0; v < V; v++) {
    VSTORE(ggamma + v * VW, sg[v]);
    VSTORE(gbeta + v * VW, sb[v]);
    scale[v] = VLOAD(gamma + v * VW) * VLOAD(rstd + v * VW);
    mb[v] = sb[v] / (float)M;
    mg[v] = sg[v] / (float)M;
  }
  for (int p = 0; p < M; p++)
    for (int v = 0; v < V; v++) {
      vf d = scale[v] * (VLOAD(dy + (long)p * F + v * VW) - mb[v] - VLOAD(xhat + (long)p * F + v * VW) * mg[v]);
      VSTORE(dz + (long)p * F + v * VW, d);
      sz[v] += d;
    }
  for (int v = 0; v < V; v++) VSTORE(gbias + v * VW, sz[v]);
}

/* Logits, loss and the logits' gradient (in place), as src/nn/losses.ts's softmax cross-entropy. */
static double cross_entropy(int N, int classes, float *logits, const int *labels, const int *rows, int mean) {
  double total = 0.0;
  for (int i = 0; i < N; i++) {
    float *z = logits + (long)i * classes;
    float top = z[0];
    for (int j = 1; j < classes; j++) top = z[j] > top ? z[j] : top;
    double sum = 0.0;
    for (int j = 0; j < classes; j++) sum += EXP((double)z[j] - top);
    int y = labels[rows[i]];
    total += LOG(sum) + top - z[y];
    float scale = mean ? 1.0f / N : 1.0f;
    for (int j = 0; j < classes; j++) {
      float pj = (float)(EXP((double)z[j] - top) / sum);
      z[j] = (pj - (j == y ? 1.0f : 0.0f)) * scale;
    }
  }
  return mean ? total / N : total;
}

static void update(int kind, float rate, float momentum, float beta1, float beta2, float epsilon, float *p, float *s1, float *s2, const float *g, int n) {
  if (kind == OPT_SGD) {
    for (int i = 0; i < n; i++) p[i] -= rate * g[i];
  } else if (kind == OPT_MOMENTUM) {
    for (int i = 0; i < n; i++) {
      s1[i] = momentum * s1[i] + g[i];
      p[i] -= rate * s1[i];
    }
  } else {
    float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
    for (int i = 0; i < n; i++) {
      float m = beta1 == 0.0f ? g[i] : beta1 * s1[i] + c1 * g[i];
      float v = beta2 * s2[i] + c2 * (g[i] * g[i]);
      s1[i] = m;
      s2[i] = v;
      p[i] -= rate * m / (SQRTF(v) + epsilon);
    }
  }
}

/* The network for minibatches of N: its shapes, scratch, and where each parameter starts. */
typedef struct {
  Block b[MAX_BLOCKS];
  Next next[MAX_BLOCKS]; /* where each block's output goes */
  Scratch s;
  int blocks, N, classes, features, P;
  long kern[MAX_BLOCKS], bias[MAX_BLOCKS], gam[MAX_BLOCKS], bet[MAX_BLOCKS], dk, db;
} Net;

/* Lays out the network in `work` and zeroes the padded inputs (only their interiors are written after). */
static void net_init(Net *net, const Arch *a, int N, float *work) {
  Block *b = net->b;
  const int blocks = a->blocks, F = a->F, classes = a->classes;
  block_shapes(a, b);
  net->P = param_count(a);
  scratch_layout(&net->s, b, blocks, N, classes, net->P, work);
  net->blocks = blocks;
  net->N = N;
  net->classes = classes;
  net->features = b[blocks - 1].QH * b[blocks - 1].QW * F;
  long at = 0;
  for (int l = 0; l < blocks; l++) {
    net->kern[l] = at; at += (long)TAPS * b[l].C * F;
    net->bias[l] = at; at += F;
    net->gam[l] = at; at += F;
    net->bet[l] = at; at += F;
    const Block *k = b + l;
    net->next[l] = l + 1 < blocks ? (Next){k[1].PH, k[1].PW, k[1].pad_top, k[1].pad_left} : (Next){k->QH, k->QW, 0, 0};
  }
  net->dk = at; at += (long)net->features * classes;
  net->db = at;
  /* Each output pixel's offset in its block's padded input; the padding stays zero. */
  for (int l = 0; l < blocks; l++) {
    const Block *k = b + l;
    int *base = net->s.base[l];
    for (int n = 0, p = 0; n < N; n++)
      for (int y = 0; y < k->OH; y++)
        for (int xo = 0; xo < k->OW; xo++, p++) base[p] = (((n * k->PH) + y * k->S) * k->PW + xo * k->S) * k->C;
    float *pin = net->s.pin[l];
    for (long i = 0; i < pin_floats(k, N); i++) pin[i] = 0.0f;
  }
}

/* Forward pass on examples rows[0..N) of x (rows NULL: the first N), into the scratch's logits. */
static void net_forward(Net *net, const float *params, const float *x, const int *rows) {
  const Block *b = net->b;
  Scratch *s = &net->s;
  const int N = net->N, classes = net->classes, features = net->features;
  const int in = b[0].H * b[0].W * b[0].C, row = b[0].W * b[0].C;
  for (int n = 0; n < N; n++) {
    const float *src = x + (long)(rows ? rows[n] : n) * in;
    for (int y = 0; y < b[0].H; y++)
      for (int xi = 0; xi < row; xi++)
        s->pin[0][(((long)n * b[0].PH + y + b[0].pad_top) * b[0].PW + b[0].pad_left) * b[0].C + xi] = src[(long)y * row + xi];
  }
  for (int l = 0; l < net->blocks; l++) {
    const Block *k = b + l;
    const int M = N * k->OH * k->OW;
    conv_forward(k, M, s->base[l], s->pin[l], params + net->kern[l], params + net->bias[l], s->xhat[l]);
    batch_norm_relu_forward(k, N, s->xhat[l], s->rstd[l], params + net->gam[l], params + net->bet[l], s->pin[l + 1], net->next + l);
  }
  const float *feat = s->pin[net->blocks];
  for (int n = 0; n < N; n++)
    for (int j = 0; j < classes; j++) {
      float acc = params[net->db + j];
      for (int d = 0; d < features; d++) acc += feat[(long)n * features + d] * params[net->dk + (long)d * classes + j];
      s->logits[n * classes + j] = acc;
    }
}

/*
 * The logits [n, classes] of examples x [n, H, W, C] in one batch (batch norm on their own
 * statistics, as the model's forward pass): the evaluation's predictions.
 */
void cnn_predict(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, const float *params, const float *x, int n, float *logits, float *work) {
  Arch a = {H, W, C, F, classes, blocks, stride2, pools};
  if (param_count(&a) == 0) return;
  Net net;
  net_init(&net, &a, n, work);
  net_forward(&net, params, x, 0);
  for (long i = 0; i < (long)n * classes; i++) logits[i] = net.s.logits[i];
}

double cnn_adapt(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, int loss, int kind, const float *rates, float momentum,
                 float beta1, float beta2, float epsilon, float *params, float *slot1, float *slot2, const float *x,
                 const int *labels, const int *rows, int steps, int N, float *work) {
  Arch a = {H, W, C, F, classes, blocks, stride2, pools};
  if (param_count(&a) == 0) return 0.0;
  Net net;
  net_init(&net, &a, N, work);
  const Block *b = net.b;
  Scratch *const s = &net.s;
  const int P = net.P;
  const int features = net.features;
  const long *kern = net.kern, *bias = net.bias, *gam = net.gam, *bet = net.bet, dk = net.dk, db = net.db;

  double total = 0.0;
  for (int step = 0; step < steps; step++) {
    const int *r = rows + (long)step * N;
    net_forward(&net, params, x, r);
    const float *feat = s->pin[blocks];
    total += cross_entropy(N, classes, s->logits, labels, r, loss == LOSS_CE_MEAN);

    /* Dense layer: its gradients, and the features' gradient into dpin (flat, as the features). */
    float *g = s->g;
    for (int d = 0; d < features; d++)
      for (int j = 0; j < classes; j++) {
        float acc = 0.0f;
        for (int n = 0; n < N; n++) acc += feat[(long)n * features + d] * s->logits[n * classes + j];
        g[dk + (long)d * classes + j] = acc;
      }
    for (int j = 0; j < classes; j++) {
      float acc = 0.0f;
      for (int n = 0; n < N; n++) acc += s->logits[n * classes + j];
      g[db + j] = acc;
    }
    float *da = s->dpin;
    for (int n = 0; n < N; n++)
      for (int d = 0; d < features; d++) {
        float acc = 0.0f;
        for (int j = 0; j < classes; j++) acc += s->logits[n * classes + j] * params[dk + (long)d * classes + j];
        da[(long)n * features + d] = acc;
      }
    for (int l = blocks - 1; l >= 0; l--) {
      const Block *k = b + l;
      const int M = N * k->OH * k->OW;
      batch_norm_relu_backward(k, N, s->xhat[l], s->rstd[l], params + gam[l], params + bet[l], s->pin[l + 1], da, net.next + l,
                               s->dy, s->dz, g + bias[l], g + gam[l], g + bet[l]);
      conv_filter_gradient(k, M, s->base[l], s->pin[l], s->dz, g + kern[l]);
      if (l > 0) {
        for (long i = 0; i < pin_floats(k, N); i++) s->dpin[i] = 0.0f;
        conv_input_gradient(k, M, s->base[l], s->dz, params + kern[l], s->wt, s->dpin);
        da = s->dpin;
      }
    }
    update(kind, rates[step], momentum, beta1, beta2, epsilon, params, slot1, slot2, g, P);
  }
  return total;
}

/* Element-wise float32 arithmetic for the meta-update: the same operations as src/core/host-params.ts. */
void cnn_add_into(float *acc, const float *x, int n) {
  for (int i = 0; i < n; i++) acc[i] += x[i];
}

void cnn_divide_by(float *acc, float d, int n) {
  for (int i = 0; i < n; i++) acc[i] /= d;
}
