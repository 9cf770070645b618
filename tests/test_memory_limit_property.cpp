// A property of the memory checks over random architectures: built from JSON under a 64 MiB
// limit (MYELIN_MEMORY_LIMIT) in a child whose address space is limited too, every model is either
// refused with ResourceError (or a ShapeError/ValueError for an architecture that cannot be) or
// built with its weights within the limit, and then predicts on a few rows or refuses the batch.
// Never std::bad_alloc, never a kill.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "limited_child.hpp"
#include "myelin/myelin.hpp"

using namespace myelin;
using nlohmann::json;

namespace {

constexpr int64_t kLimit = int64_t(64) << 20;

// Sizes spread over ten orders of magnitude, so that both sides of the limit are drawn often.
int64_t log_uniform(Rng& rng, double max_log10) {
  return std::max<int64_t>(1, int64_t(std::pow(10.0, rng.uniform01() * max_log10)));
}

json random_layer(Rng& rng, bool image) {
  const int kind = int(rng.uniform01() * (image ? 10 : 5));
  switch (kind) {
    case 0: return {{"class_name", "Dense"}, {"config", {{"units", log_uniform(rng, 10)}, {"activation", "relu"}}}};
    case 1: return {{"class_name", "Dropout"}, {"config", {{"rate", 0.25}}}};
    case 2: return {{"class_name", "BatchNormalization"}, {"config", json::object()}};
    case 3: return {{"class_name", "Activation"}, {"config", {{"activation", "tanh"}}}};
    case 4: return {{"class_name", "Reshape"}, {"config", {{"target_shape", {-1}}}}};
    case 5:
      return {{"class_name", "Conv2D"},
              {"config", {{"filters", log_uniform(rng, 7)}, {"kernel_size", 1 + int(rng.uniform01() * 4)}, {"padding", "same"}}}};
    case 6: return {{"class_name", "MaxPooling2D"}, {"config", {{"pool_size", 2}}}};
    case 7: return {{"class_name", "ZeroPadding2D"}, {"config", {{"padding", log_uniform(rng, 4)}}}};
    case 8:
      return {{"class_name", "Resizing"}, {"config", {{"height", log_uniform(rng, 4)}, {"width", log_uniform(rng, 4)}}}};
    default: return {{"class_name", "Flatten"}, {"config", json::object()}};
  }
}

json random_architecture(Rng& rng) {
  const bool image = rng.uniform01() < 0.5;
  json shape = image ? json{nullptr, 1 + int(rng.uniform01() * 16), 1 + int(rng.uniform01() * 16), 1 + int(rng.uniform01() * 3)}
                     : json{nullptr, log_uniform(rng, 4)};
  json layers = json::array();
  const int n = 1 + int(rng.uniform01() * 5);
  for (int i = 0; i < n; ++i) layers.push_back(random_layer(rng, image && i < 3));
  layers[0]["config"]["batch_input_shape"] = shape;
  return {{"class_name", "Sequential"}, {"config", {{"name", "random"}, {"layers", layers}}}};
}

}  // namespace

TEST(MemoryLimitProperty, RandomArchitecturesAreRefusedOrFitTheLimit) {
  const auto r = myelin_test::run_limited(int64_t(1) << 30, "MYELIN_MEMORY_LIMIT=64M", []() -> std::string {
    Rng rng(20240613);
    int refused = 0, invalid = 0, built = 0, predicted = 0, batch_refused = 0;
    for (int i = 0; i < 300; ++i) {
      const json arch = random_architecture(rng);
      try {
        Sequential model = model_from_json(arch.dump());
        ++built;
        int64_t values = 0;  // every weight, and a gradient for each trainable one
        for (const auto& l : model.layers()) values += l->count_params() + l->count_params(/*trainable_only=*/true);
        const int64_t bytes = values * int64_t(sizeof(float));
        if (bytes > kLimit) return "built beyond the limit (" + std::to_string(bytes) + " bytes): " + arch.dump();
        // Forward passes are only run where they are quick: the property is about memory.
        int64_t flops = 0;
        for (const auto& l : model.layers()) flops += l->flops_per_sample();
        if (flops > 20000000) continue;
        try {
          model.predict(Tensor(with_batch(4, model.input_shape())), 4);
          ++predicted;
        } catch (const ResourceError&) {
          ++batch_refused;
        }
      } catch (const ResourceError&) {
        ++refused;
      } catch (const ShapeError&) {
        ++invalid;
      } catch (const ValueError&) {
        ++invalid;
      }
    }
    return std::to_string(refused) + " " + std::to_string(built) + " " + std::to_string(predicted) + " " +
           std::to_string(batch_refused) + " " + std::to_string(invalid);
  });
  ASSERT_EQ(r.status, 0) << "2: an unexpected error, 3: std::bad_alloc, -1: killed; " << r.message;
  std::istringstream counts(r.message);
  int refused = 0, built = 0, predicted = 0, batch_refused = 0;
  counts >> refused >> built >> predicted >> batch_refused;
  // Both outcomes must be common, or the property says little.
  EXPECT_GT(refused, 30) << r.message;
  EXPECT_GT(built, 30) << r.message;
  EXPECT_GT(predicted, 10) << r.message;
  std::printf("refused %d, built %d (predicted %d, batch refused %d) of 300\n", refused, built, predicted, batch_refused);
}
