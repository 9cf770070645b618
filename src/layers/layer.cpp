#include "myelin/layers/layer.hpp"

namespace myelin {

int64_t Layer::count_params() {
  int64_t n = 0;
  for (const auto& p : params()) n += p.value->size();
  return n;
}

}  // namespace myelin
