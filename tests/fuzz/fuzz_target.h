/* The libFuzzer entry point every target in this folder defines; driver.c calls it on files. */
#ifndef AMSI_TESTS_FUZZ_TARGET_H
#define AMSI_TESTS_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input. Returns 0; aborts when an invariant of the code under test is broken. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
