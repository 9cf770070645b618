#include "kernels/cpu/gemm.hpp"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>

#include "myelin/error.hpp"

namespace myelin::kernels {

namespace {

// Products that oneDNN's matmul primitive runs faster than its sgemm on an AMX Xeon (12-16 % from
// 32 rows and 2^18 multiply-adds up, slower below: bench/README.md, "GEMM: the matmul primitive for
// plain products"): C = A B with no transposes, scaling or accumulation.
constexpr int64_t kMatmulRows = 32, kMatmulWork = int64_t(1) << 18;

struct Matmul {
  dnnl::matmul prim;
  dnnl::memory a, b, c;
};

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One primitive per shape and strides (a layer repeats a handful: its batch, the last short one).
std::mutex g_mutex;
std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, Matmul> g_matmuls;

void matmul(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
            int64_t ldc) {
  using dnnl::memory;
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    const auto key = std::make_tuple(M, N, K, lda, ldb, ldc);
    auto it = g_matmuls.find(key);
    if (it == g_matmuls.end()) {
      const auto f32 = memory::data_type::f32;
      const memory::desc a_md({M, K}, f32, memory::dims{lda, 1}), b_md({K, N}, f32, memory::dims{ldb, 1});
      const memory::desc c_md({M, N}, f32, memory::dims{ldc, 1});
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine());
      Matmul m{dnnl::matmul(pd), memory(a_md, engine(), DNNL_MEMORY_NONE), memory(b_md, engine(), DNNL_MEMORY_NONE),
               memory(c_md, engine(), DNNL_MEMORY_NONE)};
      it = g_matmuls.emplace(key, std::move(m)).first;
    }
    Matmul& m = it->second;
    m.a.set_data_handle(const_cast<float*>(A));
    m.b.set_data_handle(const_cast<float*>(B));
    m.c.set_data_handle(C);
    dnnl::stream s(engine());
    m.prim.execute(s, {{DNNL_ARG_SRC, m.a}, {DNNL_ARG_WEIGHTS, m.b}, {DNNL_ARG_DST, m.c}});
    s.wait();
  } catch (const dnnl::error& err) {
    throw Error(std::string("oneDNN matmul failed: ") + err.what());
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (!trans_a && !trans_b && alpha == 1.f && beta == 0.f && K > 0 && M >= kMatmulRows && M * N * K >= kMatmulWork)
    return matmul(M, N, K, A, lda, B, ldb, C, ldc);
  // Up to 64k multiply-adds the second thread's fork and join cost more than its share of the work:
  // batch-1 inference took 3.7 us on two threads against 1.4 on one (bench/README.md). 2^16 itself
  // included: a batch-1 LSTM step of 128 units is exactly that, 100 forks per sequence.
  const bool small = M * N * K <= (1 << 16);
  const int threads = small ? omp_get_max_threads() : 1;
  if (threads > 1) omp_set_num_threads(1);
  // Elsewhere oneDNN's sgemm: row-major, and the fastest candidate measured at every size the models
  // use, down to batch 1 and 10x10x10, where plain loops lost (bench/README.md, "GEMM").
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (threads > 1) omp_set_num_threads(threads);
  if (st != dnnl_success) throw Error("dnnl_sgemm failed with status " + std::to_string(static_cast<int>(st)));
}

}  // namespace myelin::kernels
