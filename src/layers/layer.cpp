#include "myelin/layers/layer.hpp"

#include <nlohmann/json.hpp>

namespace myelin {

std::vector<Param> Layer::params() {
  std::vector<Param> p = own_params();
  if (!trainable_)
    for (auto& w : p) {
      w.trainable = false;
      w.grad = nullptr;
    }
  return p;
}

int64_t Layer::count_params(bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : params())
    if (p.trainable || !trainable_only) n += p.value->size();
  return n;
}

nlohmann::json Layer::get_config() const {
  nlohmann::json c = {{"name", name_}, {"trainable", trainable_}};
  if (input_shape_) {
    nlohmann::json shape = nlohmann::json::array({nullptr});
    for (int64_t d : *input_shape_) shape.push_back(d);
    c["batch_input_shape"] = shape;
  }
  return c;
}

}  // namespace myelin
