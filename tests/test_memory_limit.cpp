// The memory limit and the checks against it: a model too big for the process is refused with
// ResourceError before it allocates (its weights, its optimizer's state, a batch's activations),
// and targets are checked for NaN as inputs are. Every case that could allocate runs in a child
// whose address space is limited (limited_child.hpp), so that a regression fails here instead of
// exhausting the machine.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "limited_child.hpp"
#include "myelin/myelin.hpp"
#include "sanitizers.hpp"

using namespace myelin;
using myelin_test::run_limited;

namespace {

constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs `body` in a limited child and returns the message of the ResourceError it must throw.
std::string resource_error_in_child(const std::string& env, const std::function<void()>& body) {
  const auto r = run_limited(1 * kGiB, env, [&]() -> std::string {
    try {
      body();
    } catch (const ResourceError& e) {
      return e.what();
    }
    throw std::runtime_error("no ResourceError");
  });
  EXPECT_EQ(r.status, 0) << "2: another error, 3: std::bad_alloc, -1: killed; " << r.message;
  return r.message;
}

Tensor ramp(Shape shape) {
  Tensor t(std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t[i] = float(i % 7) / 7.f;
  return t;
}

// The number after "batch_size=" in a message, or -1.
int64_t suggested_batch(const std::string& message) {
  const size_t at = message.find("batch_size=");
  return at == std::string::npos ? -1 : std::stoll(message.substr(at + 11));
}

}  // namespace

TEST(MemoryLimit, EnvironmentOverridesAndIsCheckedAsASize) {
  const auto r = run_limited(1 * kGiB, "", []() -> std::string {
    setenv("MYELIN_MEMORY_LIMIT", "256M", 1);
    MemoryLimit a = memory_limit();
    if (a.bytes != int64_t(256 * kMiB) || a.source != "MYELIN_MEMORY_LIMIT")
      return "256M gave " + std::to_string(a.bytes) + " from " + a.source;
    setenv("MYELIN_MEMORY_LIMIT", "0.5 GiB", 1);
    if (memory_limit().bytes != int64_t(512 * kMiB)) return "0.5 GiB gave " + std::to_string(memory_limit().bytes);
    setenv("MYELIN_MEMORY_LIMIT", "lots", 1);
    try {
      memory_limit();
      return "'lots' was accepted";
    } catch (const ValueError& e) {
      if (!has(e.what(), "MYELIN_MEMORY_LIMIT='lots'")) return std::string("unclear error: ") + e.what();
    }
    return "";
  });
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.message, "");
}

TEST(MemoryLimit, TheAddressSpaceLimitCounts) {
  // 512 MiB more address space than mapped: the limit is at most that, and says where it comes from.
  const auto r = run_limited(512 * kMiB, "", []() -> std::string {
    const MemoryLimit m = memory_limit();
    return m.source + "|" + std::to_string(m.bytes);
  });
  ASSERT_EQ(r.status, 0) << r.message;
  const size_t bar = r.message.find('|');
  EXPECT_EQ(r.message.substr(0, bar), "the address-space limit (ulimit -v)");
  const int64_t bytes = std::stoll(r.message.substr(bar + 1));
  EXPECT_GT(bytes, 0);
  EXPECT_LE(bytes, int64_t(512 * kMiB));
}

TEST(MemoryLimit, BytesAreWrittenForPeople) {
  EXPECT_EQ(format_bytes(912), "912 B");
  EXPECT_EQ(format_bytes(3.5 * 1024), "3.5 KiB");
  EXPECT_EQ(format_bytes(8e9 * 4), "29.8 GiB");
}

TEST(ModelMemory, ADenseOfABillionUnitsIsRefusedBeforeItAllocates) {
  // The typo: one zero too many. Under a 1 GiB margin, allocating would fail or take the machine.
  const std::string m = resource_error_in_child("", [] {
    Sequential model({layers::Dense(1000000000, "linear", Shape{8})});
    model.build();
  });
  EXPECT_TRUE(has(m, "layer 0 'dense' (Dense (None, 8) → (None, 1000000000))")) << m;
  EXPECT_TRUE(has(m, "weights need 33.5 GiB (67.1 GiB with their gradients)")) << m;  // 9e9 values
  EXPECT_TRUE(has(m, "this process may use")) << m;
}

TEST(ModelMemory, FitNamesTheOptimizersStateAndTheLargestLayer) {
  const std::string m = resource_error_in_child("", [] {
    Sequential model({layers::Dense(16, "relu", Shape{8}), layers::Dense(200000000), layers::Dense(3)});
    model.compile("adam", "mse");
    model.fit(ramp({50, 8}), ramp({50, 3}), {.epochs = 1, .verbose = 0});
  });
  EXPECT_TRUE(has(m, "Sequential 'sequential': layer 1 'dense_1' (Dense (None, 16) → (None, 200000000))")) << m;
  EXPECT_TRUE(has(m, "with their gradients and Adam's state")) << m;
  EXPECT_TRUE(has(m, "the model's weights need")) << m;
}

TEST(ModelMemory, CompileCountsTheOptimizersState) {
  // 10^7 weights: 76 MiB with their gradients fit in 100 MiB; Adam's two moments do not, SGD has none.
  const std::string m = resource_error_in_child("MYELIN_MEMORY_LIMIT=100M", [] {
    Sequential model({layers::Dense(2000000, "linear", Shape{4})});
    model.build();
    model.compile(optimizers::SGD(0.01), "mse");
    model.compile("adam", "mse");
  });
  EXPECT_TRUE(has(m, "compile: layer 0 'dense'")) << m;
  EXPECT_TRUE(has(m, "(152.6 MiB with their gradients and Adam's state)")) << m;
  EXPECT_TRUE(has(m, "this process may use 100.0 MiB (MYELIN_MEMORY_LIMIT)")) << m;
}

TEST(ModelMemory, OptimizersSayHowMuchStateTheyKeep) {
  EXPECT_EQ(optimizers::SGD(0.01).state_copies_per_weight(), 0);
  EXPECT_EQ(optimizers::SGD(0.01, 0.9).state_copies_per_weight(), 1);
  EXPECT_EQ(optimizers::Adam().state_copies_per_weight(), 2);
  EXPECT_EQ(optimizers::AdamW().state_copies_per_weight(), 2);
  EXPECT_EQ(optimizers::RMSprop().state_copies_per_weight(), 1);
  EXPECT_EQ(optimizers::Adagrad().state_copies_per_weight(), 1);
}

TEST(ModelMemory, ABatchTooBigNamesTheBatchSizeThatFits) {
  // 10^5 outputs a row: 1.1 MiB a row in training, 0.4 MiB in inference, against 64 MiB.
  const auto r = run_limited(1 * kGiB, "MYELIN_MEMORY_LIMIT=64M", []() -> std::string {
    Sequential model({layers::Dense(100000, "relu", Shape{10}), layers::Dense(1)});
    model.compile(optimizers::SGD(0.01), "mse");
    const Tensor x = ramp({400, 10}), y = ramp({400, 1});
    std::string out;
    int64_t fits = -1;
    try {
      model.fit(x, y, {.epochs = 1, .batch_size = 400, .verbose = 0});
      return "fit(batch_size=400) was not refused";
    } catch (const ResourceError& e) {
      out += std::string(e.what()) + "\n";
      fits = suggested_batch(e.what());
    }
    if (fits < 1 || fits >= 400) return "no batch size suggested: " + out;
    model.fit(x, y, {.epochs = 1, .batch_size = int(fits), .verbose = 0});  // the suggestion trains
    try {
      model.fit(x, y, {.epochs = 1, .batch_size = int(fits) + 1, .verbose = 0});
      return "batch_size=" + std::to_string(fits + 1) + " was not refused";
    } catch (const ResourceError&) {
    }
    try {
      model.predict(x, 400);
      return "predict(batch_size=400) was not refused";
    } catch (const ResourceError& e) {
      out += e.what();
      if (suggested_batch(e.what()) <= fits) return "predict suggests no more than fit: " + out;
    }
    return out;
  });
  ASSERT_EQ(r.status, 0) << r.message;
  EXPECT_TRUE(has(r.message, "fit: a batch of 400 rows needs")) << r.message;
  EXPECT_TRUE(has(r.message, "training activations")) << r.message;
  EXPECT_TRUE(has(r.message, "the widest output is layer 0 'dense' (Dense (None, 10) → (None, 100000))")) << r.message;
  EXPECT_TRUE(has(r.message, "predict: a batch of 400 rows needs")) << r.message;
}

TEST(ModelMemory, ATensorThatCannotBeAllocatedIsAResourceError) {
#ifdef MYELIN_UNDER_ASAN
  // AddressSanitizer's allocator aborts on a failed allocation instead of returning null, so the
  // library never sees the failure it would name; the model-level checks above run there too.
  GTEST_SKIP() << "AddressSanitizer aborts on a failed allocation";
#endif
  // Below the model's checks: a raw tensor past the address-space limit names its size.
  const auto r = run_limited(256 * kMiB, "", []() -> std::string {
    try {
      Tensor t(Shape{1024, 1024, 1024});
      return "4 GiB were allocated";
    } catch (const ResourceError& e) {
      return e.what();
    }
  });
  ASSERT_EQ(r.status, 0) << r.message;
  EXPECT_TRUE(has(r.message, "could not allocate 4.0 GiB for a tensor")) << r.message;
}

TEST(ModelMemory, AHostileFileIsStillTheFilesError) {
  // load_model's budget (a few times the file's tensors) refuses before the machine's limit would.
  const auto r = run_limited(1 * kGiB, "", []() -> std::string {
    const std::string path = "/tmp/myelin_memory_limit_" + std::to_string(getpid()) + ".safetensors";
    Sequential small({layers::Dense(4, "linear", Shape{8})});
    small.save(path);
    // The same weights under an architecture with a thousand times the units.
    io::SafetensorsFile f = io::read_safetensors(path);
    std::string arch = f.metadata.at("architecture");
    arch.replace(arch.find("\"units\":4"), 9, "\"units\":4000000");
    std::vector<std::pair<std::string, const Tensor*>> tensors;
    for (const auto& [name, t] : f.tensors) tensors.emplace_back(name, &t);
    auto meta = f.metadata;
    meta["architecture"] = arch;
    io::write_safetensors(path, tensors, meta);
    try {
      load_model(path);
      std::remove(path.c_str());
      return "loaded";
    } catch (const IOError& e) {
      std::remove(path.c_str());
      return e.what();
    }
  });
  ASSERT_EQ(r.status, 0) << r.message;
  EXPECT_TRUE(has(r.message, "layer 0 'dense' (Dense (None, 8) → (None, 4000000))")) << r.message;
  EXPECT_TRUE(has(r.message, "more than its file can describe")) << r.message;
}

TEST(Targets, ANonFiniteTargetIsNamedByRowAndColumn) {
  Sequential model({layers::Dense(2, "linear", Shape{3})});
  model.compile("sgd", "mse");
  const Tensor x = ramp({6, 3});
  Tensor y = ramp({6, 2});
  y.at(4, 1) = std::numeric_limits<float>::quiet_NaN();
  for (const char* what : {"fit", "evaluate"}) {
    try {
      if (std::string(what) == "fit") model.fit(x, y, {.epochs = 1, .verbose = 0});
      else model.evaluate(x, y);
      ADD_FAILURE() << what << " accepted a NaN target";
    } catch (const ValueError& e) {
      EXPECT_TRUE(has(e.what(), std::string(what) + ": y holds nan at row 4 (column 1); targets must be finite"))
          << e.what();
    }
  }
  y.at(4, 1) = 0.f;
  y.at(1, 0) = std::numeric_limits<float>::infinity();
  data::InMemoryDataset ds(x, y);
  try {
    model.fit(ds, {.epochs = 1, .batch_size = 4, .shuffle = false, .verbose = 0});
    ADD_FAILURE() << "fit on a dataset accepted an infinite target";
  } catch (const ValueError& e) {
    EXPECT_TRUE(has(e.what(), "fit: epoch 1, batch 1: y holds inf at row 1 (column 0)")) << e.what();
  }
  try {
    model.evaluate(ds, {.batch_size = 4});
    ADD_FAILURE() << "evaluate on a dataset accepted an infinite target";
  } catch (const ValueError& e) {
    EXPECT_TRUE(has(e.what(), "evaluate: batch 1: y holds inf at row 1 (column 0)")) << e.what();
  }
}
