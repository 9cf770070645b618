// The core's rate of bfloat16 multiply-adds (vdpbf16ps, 32 a 512-bit instruction: 16 sums of a pair
// of products) against float32's (vfmadd231ps, 16), with twelve independent accumulators each, so
// that the instructions' issue rate, not their latency, sets the pace. Above 1, AVX512_BF16 can make
// mixed_bfloat16 faster than float32 without AMX; at or below 1, rounding the operands is pure cost.
// The figures behind the rule of mixed_precision::bf16_faster_than_float32 (bench/README.md,
// "mixed_bfloat16 on an Intel CPU without AMX"). Prints name=value lines.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <myelin/myelin.hpp>

namespace {

constexpr long kLoops = 10'000'000;  // each loop issues 12 instructions
constexpr int kRuns = 7;

#if defined(__x86_64__)
// Accumulators zmm4-zmm15 start at 0; both operands hold 0x3f80 (1.0 as bfloat16) in every half, a
// normal float32 too, so no operand or sum is subnormal (which would take microcode assists).
#define MYELIN_RATE_LOOP(OP)                                                                                        \
  asm volatile(                                                                                                     \
      "vpxord %%zmm4, %%zmm4, %%zmm4\n vmovaps %%zmm4, %%zmm5\n vmovaps %%zmm4, %%zmm6\n vmovaps %%zmm4, %%zmm7\n" \
      "vmovaps %%zmm4, %%zmm8\n vmovaps %%zmm4, %%zmm9\n vmovaps %%zmm4, %%zmm10\n vmovaps %%zmm4, %%zmm11\n"      \
      "vmovaps %%zmm4, %%zmm12\n vmovaps %%zmm4, %%zmm13\n vmovaps %%zmm4, %%zmm14\n vmovaps %%zmm4, %%zmm15\n"    \
      "mov $0x3f803f80, %%eax\n vpbroadcastd %%eax, %%zmm1\n vmovaps %%zmm1, %%zmm2\n"                             \
      "1:\n" OP " %%zmm1, %%zmm2, %%zmm4\n" OP " %%zmm1, %%zmm2, %%zmm5\n" OP " %%zmm1, %%zmm2, %%zmm6\n" OP       \
      " %%zmm1, %%zmm2, %%zmm7\n" OP " %%zmm1, %%zmm2, %%zmm8\n" OP " %%zmm1, %%zmm2, %%zmm9\n" OP                 \
      " %%zmm1, %%zmm2, %%zmm10\n" OP " %%zmm1, %%zmm2, %%zmm11\n" OP " %%zmm1, %%zmm2, %%zmm12\n" OP              \
      " %%zmm1, %%zmm2, %%zmm13\n" OP " %%zmm1, %%zmm2, %%zmm14\n" OP " %%zmm1, %%zmm2, %%zmm15\n"                 \
      "dec %0\n jnz 1b\n vzeroupper\n"                                                                              \
      : "+r"(loops)                                                                                                 \
      :                                                                                                             \
      : "eax", "xmm1", "xmm2", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
        "xmm14", "xmm15", "cc")

// Seconds for one instruction: the fastest of kRuns loops.
double seconds_per_instruction(bool bf16) {
  double best = 1e30;
  for (int run = 0; run < kRuns; ++run) {
    long loops = kLoops;
    const auto t0 = std::chrono::steady_clock::now();
    if (bf16)
      MYELIN_RATE_LOOP("vdpbf16ps");
    else
      MYELIN_RATE_LOOP("vfmadd231ps");
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best / (double(kLoops) * 12);
}
#endif

}  // namespace

int main() {
  using namespace myelin;
  std::printf("bf16_supported=%d\n", int(mixed_precision::bf16_supported()));
  std::printf("bf16_faster_than_float32=%d\n", int(mixed_precision::bf16_faster_than_float32()));
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
    std::printf("# this CPU has no AVX512_BF16: nothing to measure\n");
    return 0;
  }
  const double fma = seconds_per_instruction(false);
  const double dot = seconds_per_instruction(true);
  std::printf("fp32_fma_gmacs=%.1f\n", 16 / fma / 1e9);
  std::printf("bf16_dot_gmacs=%.1f\n", 32 / dot / 1e9);
  std::printf("bf16_over_fp32_rate=%.2f\n", (32 / dot) / (16 / fma));
#else
  std::printf("# not an x86-64 CPU: nothing to measure\n");
#endif
  return 0;
}
