/*
 * The fused CNN kernel (fused-cnn.c) for one instruction-set level. binding.gyp compiles this
 * file once per level, each time with that level's compiler flags and CNN_LEVEL set to its name
 * (baseline, avx2, avx512), so one addon holds every level and node-addon.c picks the best one
 * the CPU has at load time. The kernel's public names get the level as a suffix, so that the
 * copies link side by side; its source stays one file, written for no particular level.
 */
#define CNN_JOIN2(a, b) a##_##b
#define CNN_JOIN(a, b) CNN_JOIN2(a, b)
#define CNN_NAME(f) CNN_JOIN(f, CNN_LEVEL)
#define CNN_QUOTE2(x) #x
#define CNN_QUOTE(x) CNN_QUOTE2(x)

#define cnn_param_count CNN_NAME(cnn_param_count)
#define cnn_work_floats CNN_NAME(cnn_work_floats)
#define cnn_adapt CNN_NAME(cnn_adapt)
#define cnn_predict CNN_NAME(cnn_predict)
#define cnn_add_into CNN_NAME(cnn_add_into)
#define cnn_divide_by CNN_NAME(cnn_divide_by)

#include "fused-cnn.c"
#include "cnn-levels.h"

const CnnKernels CNN_NAME(cnn_kernels) = {
  CNN_QUOTE(CNN_LEVEL), cnn_param_count, cnn_work_floats, cnn_adapt, cnn_predict, cnn_add_into, cnn_divide_by,
};
