#include "kernels/cpu/bf16.hpp"

#include <cstring>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "myelin/error.hpp"

namespace myelin::kernels {

bool bf16_supported() {
  // The ISA oneDNN dispatches to (capped by DNNL_MAX_CPU_ISA): its bf16 kernels need avx512_core_bf16,
  // whose bits AMX's value includes.
  static const bool ok = [] {
    const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    const unsigned bf16 = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
    return (isa & bf16) == bf16;
  }();
  return ok;
}

void to_bf16(const float* x, uint16_t* y, int64_t n) {
  // Round to nearest even on the bits; a NaN stays a (quiet) NaN instead of rounding into infinity.
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    y[i] = nan ? uint16_t((u >> 16) | 0x40u) : uint16_t(rounded);
  }
}

const uint16_t* kept_bf16(const float* x, int64_t n, std::vector<float>& seen, std::vector<uint16_t>& rounded) {
  const size_t count = size_t(n);
  if (seen.size() != count || rounded.size() != count || std::memcmp(seen.data(), x, count * sizeof(float)) != 0) {
    seen.assign(x, x + n);
    rounded.resize(size_t(n));
    to_bf16(x, rounded.data(), n);
  }
  return rounded.data();
}

namespace {

using dnnl::memory;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

struct Product {
  dnnl::matmul prim;
  memory a, b, c;
};

// Primitives by shape: a layer repeats a handful of shapes (training batch, last batch, inference).
std::mutex g_mutex;
std::map<std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, Product> g_products;

// The stored rows of op(X) rounded into a packed buffer: `rows` x `cols` out of a matrix with row stride ld.
void pack(const float* x, int64_t rows, int64_t cols, int64_t ld, std::vector<uint16_t>& out) {
  out.resize(size_t(rows * cols));
  if (ld == cols) return to_bf16(x, out.data(), rows * cols);
  for (int64_t r = 0; r < rows; ++r) to_bf16(x + r * ld, out.data() + r * cols, cols);
}

thread_local std::vector<uint16_t> t_a, t_b;

}  // namespace

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  // Packed: op(B) stored as [K, N] (or [N, K] transposed).
  pack(B, trans_b ? N : K, trans_b ? K : N, ldb, t_b);
  gemm_bf16(trans_a, trans_b, M, N, K, A, lda, t_b.data(), trans_b ? K : N, C, ldc);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // Packed: op(A) stored as [M, K] (or [K, M] transposed).
  pack(A, trans_a ? K : M, trans_a ? M : K, lda, t_a);
  gemm_bf16(trans_a, trans_b, M, N, K, t_a.data(), trans_a ? M : K, B, ldb, C, ldc);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto key = std::make_tuple(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    auto it = g_products.find(key);
    if (it == g_products.end()) {
      const auto bf16 = memory::data_type::bf16;
      memory::desc a_md({M, K}, bf16, trans_a ? memory::dims{1, lda} : memory::dims{lda, 1});
      memory::desc b_md({K, N}, bf16, trans_b ? memory::dims{1, ldb} : memory::dims{ldb, 1});
      memory::desc c_md({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine());
      Product p{dnnl::matmul(pd), memory(a_md, engine(), DNNL_MEMORY_NONE), memory(b_md, engine(), DNNL_MEMORY_NONE),
                memory(c_md, engine(), DNNL_MEMORY_NONE)};
      it = g_products.emplace(key, std::move(p)).first;
    }
    Product& p = it->second;
    p.a.set_data_handle(const_cast<uint16_t*>(A));
    p.b.set_data_handle(const_cast<uint16_t*>(B));
    p.c.set_data_handle(C);
    dnnl::stream s(engine());
    p.prim.execute(s, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}});
    s.wait();
  } catch (const dnnl::error& err) {
    throw Error(std::string("oneDNN bfloat16 matmul failed: ") + err.what());
  }
}

}  // namespace myelin::kernels
