/*
 * The fused CNN kernel (fused-cnn.c) as built for one instruction-set level (cnn-level.c): the
 * table of its entry points through which node-addon.c calls the level chosen at load time.
 */
#ifndef CNN_LEVELS_H
#define CNN_LEVELS_H

typedef struct {
  const char *name;
  int (*param_count)(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools);
  int (*work_floats)(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, int batch);
  double (*adapt)(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, int loss, int kind, const float *rates, float momentum,
                  float beta1, float beta2, float epsilon, float *params, float *slot1, float *slot2, const float *x,
                  const int *labels, const int *rows, int steps, int N, float *work);
  void (*predict)(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, const float *params, const float *x, int n, float *logits, float *work);
  void (*add_into)(float *acc, const float *x, int n);
  void (*divide_by)(float *acc, float d, int n);
} CnnKernels;

/* Every target builds the portable level; x86-64 adds AVX2 with FMA and AVX-512 (binding.gyp). */
extern const CnnKernels cnn_kernels_baseline;
#ifdef CNN_X86_LEVELS
extern const CnnKernels cnn_kernels_avx2;
extern const CnnKernels cnn_kernels_avx512;
#endif

#endif
