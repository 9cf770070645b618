#include "kernels/cpu/matmul.hpp"

#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>

#include "kernels/cpu/onednn_engine.hpp"
#include "myelin/error.hpp"

namespace myelin::kernels {

namespace {

using dnnl::memory;


struct Product {
  dnnl::matmul prim;
  memory a, b, c;
};

using Key = std::tuple<MatmulInputs, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

// Per thread, so that no lock is held while a product runs; bounded, so that a program feeding ever
// new shapes (sequences of every length) does not keep a primitive for each.
constexpr size_t kKeptProducts = 64;
thread_local std::map<Key, Product> t_products;

}  // namespace

void onednn_matmul(MatmulInputs inputs, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const void* A,
                   int64_t lda, const void* B, int64_t ldb, float* C, int64_t ldc) {
  try {
    const Key key{inputs, trans_a, trans_b, M, N, K, lda, ldb, ldc};
    auto it = t_products.find(key);
    if (it == t_products.end()) {
      if (t_products.size() >= kKeptProducts) t_products.clear();
      const auto type = inputs == MatmulInputs::Bfloat16 ? memory::data_type::bf16 : memory::data_type::f32;
      const memory::desc a_md({M, K}, type, trans_a ? memory::dims{1, lda} : memory::dims{lda, 1});
      const memory::desc b_md({K, N}, type, trans_b ? memory::dims{1, ldb} : memory::dims{ldb, 1});
      const memory::desc c_md({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), onednn_engine());
      Product p{dnnl::matmul(pd), memory(a_md, onednn_engine(), DNNL_MEMORY_NONE),
                memory(b_md, onednn_engine(), DNNL_MEMORY_NONE), memory(c_md, onednn_engine(), DNNL_MEMORY_NONE)};
      it = t_products.emplace(key, std::move(p)).first;
    }
    Product& p = it->second;
    p.a.set_data_handle(const_cast<void*>(A));
    p.b.set_data_handle(const_cast<void*>(B));
    p.c.set_data_handle(C);
    dnnl::stream s(onednn_engine());
    p.prim.execute(s, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}});
    s.wait();
  } catch (const dnnl::error& err) {
    throw Error(std::string(inputs == MatmulInputs::Bfloat16 ? "oneDNN bfloat16" : "oneDNN float32") +
                " matmul of [" + std::to_string(M) + ", " + std::to_string(K) + "] x [" + std::to_string(K) + ", " +
                std::to_string(N) + "] failed: " + err.what());
  }
}

int64_t onednn_matmul_kept_products() { return int64_t(t_products.size()); }

}  // namespace myelin::kernels
