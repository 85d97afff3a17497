// Default options of the sanitizer runtimes for every executable of a HEARTMULA_SANITIZE build
// (added by cmake/HeartmulaSanitize.cmake). The runtimes call these before main(); variables
// in the environment (ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS) still override them.
#ifndef HEARTMULA_LSAN_SUPPRESSIONS
#define HEARTMULA_LSAN_SUPPRESSIONS "tests/sanitizer/lsan.supp"
#endif

extern "C" {

// Any report fails the run. detect_leaks: LeakSanitizer at exit, with the suppressions below.
// LibTorch's CPU allocator and oneDNN use large aligned allocations; alloc_dealloc_mismatch is
// off because LibTorch (not instrumented) and the project may free across new/malloc.
__attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "detect_leaks=1:halt_on_error=1:abort_on_error=0:alloc_dealloc_mismatch=0:"
         "detect_odr_violation=0:allocator_may_return_null=1:strict_string_checks=0";
}

__attribute__((visibility("default"), used)) const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1";
}

__attribute__((visibility("default"), used)) const char* __lsan_default_options() {
  return "suppressions=" HEARTMULA_LSAN_SUPPRESSIONS ":print_suppressions=0";
}

}  // extern "C"
