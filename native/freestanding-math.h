/*
 * exp and log in double precision for the freestanding WebAssembly kernels (no libc there):
 * included by fused-mlp.c and, in its wasm build, fused-cnn.c.
 */
#ifndef FREESTANDING_MATH_H
#define FREESTANDING_MATH_H

typedef unsigned long long u64;

static double scale_by_power_of_two(double x, int k) {
  union { double d; u64 u; } s;
  s.u = (u64)(k + 1023) << 52;
  return x * s.d;
}

/* exp(x): x = k ln2 + r, |r| <= ln2/2, exp(r) by its Taylor series to r^13 (error < 1e-16). */
static double exp_d(double x) {
  if (x != x) return x;
  if (x > 709.0) return 1.0 / 0.0;
  if (x < -708.0) return 0.0;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10, inv_ln2 = 1.44269504088896338700e+00;
  double kd = x * inv_ln2;
  int k = (int)(kd < 0 ? kd - 0.5 : kd + 0.5);
  double r = (x - k * ln2_hi) - k * ln2_lo;
  double term = 1.0, sum = 1.0;
  for (int n = 1; n <= 13; n++) {
    term *= r / n;
    sum += term;
  }
  return scale_by_power_of_two(sum, k);
}

/* log(x) for x > 0: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)). */
static double log_d(double x) {
  if (!(x > 0.0)) return x == 0.0 ? -1.0 / 0.0 : 0.0 / 0.0;
  if (x == 1.0 / 0.0) return x;
  union { double d; u64 u; } v;
  v.d = x;
  int e = (int)((v.u >> 52) & 0x7ff) - 1023;
  if (e == -1023) { /* subnormal: normalise first */
    v.d = x * 4503599627370496.0; /* 2^52 */
    e = (int)((v.u >> 52) & 0x7ff) - 1023 - 52;
  }
  v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m = v.d;
  if (m > 1.41421356237309504880) {
    m *= 0.5;
    e += 1;
  }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
  for (int n = 1; n <= 41; n += 2) {
    sum += term / n;
    term *= s2;
  }
  return 2.0 * sum + e * 6.93147180559945309417e-01;
}

#endif
