// The one oneDNN CPU engine the kernels create their primitives, memories and streams on.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

namespace myelin::kernels {

/// The process's oneDNN CPU engine (index 0), made on first use.
dnnl::engine& onednn_engine();

}  // namespace myelin::kernels
