/* The fused CNN inner loop (fused-cnn.c): what native/node-addon.c exposes to JavaScript. */
#ifndef FUSED_CNN_H
#define FUSED_CNN_H

/* The architecture: blocks, and bit l of stride2 / pools set when block l has stride 2 / max-pools (fused-cnn.c). */
int cnn_param_count(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools);
int cnn_work_floats(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, int batch);
double cnn_adapt(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, int loss, int kind, const float *rates, float momentum,
                 float beta1, float beta2, float epsilon, float *params, float *slot1, float *slot2, const float *x,
                 const int *labels, const int *rows, int steps, int N, float *work);
void cnn_predict(int H, int W, int C, int F, int classes, int blocks, int stride2, int pools, const float *params, const float *x, int n, float *logits, float *work);
void cnn_add_into(float *acc, const float *x, int n);
void cnn_divide_by(float *acc, float d, int n);

#endif
