// MYELIN_UNDER_ASAN is defined when this file is compiled with AddressSanitizer (GCC defines
// __SANITIZE_ADDRESS__, Clang answers __has_feature(address_sanitizer)).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define MYELIN_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MYELIN_UNDER_ASAN 1
#endif
#endif
