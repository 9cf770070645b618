// Runs a tests/pytorch script once for a test suite and compares myelin's tensors with what it wrote.
//
// Tolerance (as tests/test_pytorch_conv.cpp): |myelin - torch| <= 1e-4 * max(|torch|, 1e-2 *
// max|torch tensor|): the design's 1e-4 relative error, with a floor scaled to the tensor's largest
// entry for entries that are sums cancelling to near zero, where float32 cannot do better. With
// `of_largest`, every entry is held to 1e-4 of the tensor's largest entry instead: for algorithms
// (Winograd's convolutions) whose rounding error scales with the sum's terms, not with its result.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "myelin/tensor.hpp"
#include "reference_file.hpp"

namespace myelin::test {

/// The output folder of one run of tests/pytorch/<script> (in a fresh temporary folder), or the
/// reason the tests must be skipped (no torch) or fail (the script failed).
class TorchReference {
 public:
  explicit TorchReference(const std::string& script) {
    const std::string python = "/usr/bin/python3";
    if (std::system((python + " -c \"import torch\" >/dev/null 2>&1").c_str()) != 0) {
      skip_reason_ = python + " cannot import torch (install python3-torch to run these tests)";
      return;
    }
    dir_ = std::filesystem::temp_directory_path() / ("myelin_" + script + "_" + std::to_string(::getpid()));
    const std::string cmd = python + " " + MYELIN_TESTS_DIR + "/pytorch/" + script + " " + dir_.string();
    if (std::system(cmd.c_str()) != 0) error_ = "tests/pytorch/" + script + " failed";
  }
  ~TorchReference() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  const std::string& skip_reason() const { return skip_reason_; }
  const std::string& error() const { return error_; }
  RefFile load(const std::string& name) const {
    RefFile f = read_ref(dir_ / (name + ".txt"));
    EXPECT_FALSE(f.empty()) << name;
    return f;
  }

 private:
  std::filesystem::path dir_;
  std::string skip_reason_, error_;
};

inline void expect_close(const Tensor& actual, const RefTensor& ref, const std::string& what, bool of_largest = false) {
  ASSERT_EQ(actual.shape(), ref.shape) << what;
  double scale = 0;
  for (double r : ref.values) scale = std::max(scale, std::abs(r));
  int bad = 0;
  for (size_t i = 0; i < ref.values.size(); ++i) {
    const double tol = 1e-4 * std::max(std::abs(ref.values[i]), (of_largest ? 1.0 : 1e-2) * scale);
    const double err = std::abs(double(actual[int64_t(i)]) - ref.values[i]);
    if (!(err <= tol) && ++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: myelin " << actual[int64_t(i)] << ", torch " << ref.values[i]
                    << ", error " << err << " > " << tol;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.values.size() << " entries out of tolerance";
}

}  // namespace myelin::test
