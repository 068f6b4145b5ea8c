#ifndef TOUCHSTONE_CFUZZDRIVER_H
#define TOUCHSTONE_CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer). SwiftPM gives an executable
/// target its own `main` (`<Module>_main`), so each harness defines that and calls this instead of
/// using libFuzzer's `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
