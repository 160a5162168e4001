{
  "targets": [
    {
      "target_name": "fused_native",
      "sources": ["native/node-addon.c", "native/fused-cnn.c"],
      "cflags_c": ["-std=gnu11", "-O3", "-march=native", "-fno-math-errno", "-Wall"],
      "cflags!": ["-O2"],
      "cflags_c!": ["-O2"]
    }
  ]
}
