// stb_image's implementation compiled into fuzz_image with the fuzz build's instrumentation: these
// definitions take precedence over Debian's libstb.so, so libFuzzer sees coverage inside the BMP and
// GIF decoders and AddressSanitizer checks their memory accesses (libjpeg and libpng stay
// uninstrumented system libraries: the fuzzer drives them through myelin's wrappers only).
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
