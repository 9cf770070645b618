#include "kernels/cpu/onednn_engine.hpp"

namespace myelin::kernels {

dnnl::engine& onednn_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

}  // namespace myelin::kernels
