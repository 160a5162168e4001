{
  "variables": {
    "kernel_cflags": ["-std=gnu11", "-O3", "-fno-math-errno", "-Wall"]
  },
  "target_defaults": {
    "cflags!": ["-O2"],
    "cflags_c!": ["-O2"],
    "xcode_settings": { "GCC_OPTIMIZATION_LEVEL": "3" }
  },
  "targets": [
    {
      "target_name": "fused_native",
      "sources": ["native/node-addon.c", "native/peak.c"],
      "cflags_c": ["<@(kernel_cflags)"],
      "dependencies": ["cnn_baseline"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["cnn_avx2", "cnn_avx512"], "defines": ["CNN_X86_LEVELS"] }]
      ]
    },
    {
      "target_name": "cnn_baseline",
      "type": "static_library",
      "sources": ["native/cnn-level.c", "native/peak-level.c"],
      "defines": ["CNN_LEVEL=baseline"],
      "cflags_c": ["<@(kernel_cflags)"],
      "xcode_settings": { "OTHER_CFLAGS": ["-fno-math-errno"] }
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "cnn_avx2",
          "type": "static_library",
          "sources": ["native/cnn-level.c", "native/peak-level.c"],
          "defines": ["CNN_LEVEL=avx2"],
          "cflags_c": ["<@(kernel_cflags)", "-mavx2", "-mfma"],
          "xcode_settings": { "OTHER_CFLAGS": ["-fno-math-errno", "-mavx2", "-mfma"] }
        },
        {
          "target_name": "cnn_avx512",
          "type": "static_library",
          "sources": ["native/cnn-level.c", "native/peak-level.c"],
          "defines": ["CNN_LEVEL=avx512"],
          "cflags_c": ["<@(kernel_cflags)", "-mavx512f", "-mfma"],
          "xcode_settings": { "OTHER_CFLAGS": ["-fno-math-errno", "-mavx512f", "-mfma"] }
        }
      ]
    }]
  ]
}
