// Which sanitizer this translation unit is built with, under one spelling for both compilers:
// g++ defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang only answers __has_feature. Code
// (and tests) that must behave differently under a sanitizer test WEFT_ASAN / WEFT_TSAN, never the
// compiler's own macros: a check written for one compiler silently does nothing on the other.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif
