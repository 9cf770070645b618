// Tensor: construction, views sharing storage, buffer reuse, gathering rows and arithmetic; large
// tensors ask the kernel for 2 MiB pages.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "myelin/error.hpp"
#include "myelin/tensor.hpp"

using myelin::Shape;
using myelin::Tensor;

TEST(Tensor, ConstructsZeroedAndFromValues) {
  Tensor z({2, 3});
  EXPECT_EQ(z.size(), 6);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(z[i], 0.f);
  Tensor t({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(t.at(1, 0), 3.f);
  EXPECT_EQ(t.row_size(), 2);
  EXPECT_THROW(Tensor({2, 2}, {1, 2, 3}), myelin::ShapeError);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << "storage must be 64-byte aligned";
}

TEST(Tensor, ViewsShareStorageAndClonesDoNot) {
  Tensor t({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r[0], 3.f);
  r[0] = 30.f;
  EXPECT_EQ(t[2], 30.f);
  Tensor c = t.clone();
  c[0] = -1.f;
  EXPECT_EQ(t[0], 1.f);
  Tensor v = t.reshape({6});
  EXPECT_EQ(v[2], 30.f);
  EXPECT_THROW(t.reshape({4}), myelin::ShapeError);
  EXPECT_THROW(t.rows(2, 4), myelin::ShapeError);
}

TEST(Tensor, ResizeReusesStorageWhenLargeEnough) {
  Tensor t({4, 8});
  const float* p = t.data();
  t.resize({2, 8});
  EXPECT_EQ(t.data(), p);
  EXPECT_EQ(t.shape(), (Shape{2, 8}));
  t.resize({4, 8});
  EXPECT_EQ(t.data(), p);
  t.resize({5, 8});
  EXPECT_NE(t.data(), p);
}

TEST(Tensor, AliasViewsAnotherTensor) {
  Tensor src({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v;
  v.alias(src, {3, 2});
  EXPECT_EQ(v.data(), src.data());
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_THROW(v.alias(src, {4, 2}), myelin::ShapeError);
}

TEST(Tensor, GatherRows) {
  Tensor t({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor g = t.gather_rows({2, 0});
  EXPECT_EQ(g.to_vector(), (std::vector<float>{5, 6, 1, 2}));
  EXPECT_THROW(t.gather_rows({3}), myelin::ShapeError);
}

TEST(Tensor, GatherRowsCopiesEveryRowOfALongScatteredList) {
  // Past the rows the kernel asks for ahead of the copy: odd row width, repeats, first and last row.
  Tensor t({50, 37});
  for (int64_t i = 0; i < t.size(); ++i) t[i] = float(i);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 40; ++i) rows.push_back((i * 17 + 3) % 50);
  rows.push_back(0);
  rows.push_back(49);
  rows.push_back(49);
  const Tensor g = t.gather_rows(rows);
  ASSERT_EQ(g.shape(), (Shape{int64_t(rows.size()), 37}));
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t c = 0; c < 37; ++c) ASSERT_EQ(g.at(int64_t(r), c), t.at(rows[r], c)) << "row " << r;
}

TEST(Tensor, LargeTensorsAskForHugePages) {
#if defined(__linux__)
  // A training set read in a scattered order costs a page walk per row on 4 KiB pages.
  Tensor big({4096, 1024});  // 16 MiB
  const auto inside = reinterpret_cast<uintptr_t>(big.data()) + (8u << 20);
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) GTEST_SKIP() << "this kernel has no huge pages";
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) GTEST_SKIP() << "/proc/self/smaps cannot be read here";
  std::string line;
  bool in_mapping = false, found = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> begin >> dash >> end && dash == '-' && line.find(':') != std::string::npos &&
        line.find("VmFlags") == std::string::npos && !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0]))) {
      in_mapping = begin <= inside && inside < end;
      continue;
    }
    if (in_mapping && line.rfind("VmFlags:", 0) == 0) {
      found = true;
      EXPECT_NE((line + " ").find(" hg "), std::string::npos) << "the tensor's memory is not advised: " << line;
      break;
    }
  }
  EXPECT_TRUE(found) << "no mapping holds the tensor's memory";
#else
  GTEST_SKIP() << "huge pages are asked for on Linux only";
#endif
}

TEST(Tensor, Arithmetic) {
  Tensor a({2}, {2, 4}), b({2}, {1, 8});
  EXPECT_EQ((a / 2.f).to_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ((a * 3.f).to_vector(), (std::vector<float>{6, 12}));
  EXPECT_EQ((0.5f * a).to_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ((a - 1.f).to_vector(), (std::vector<float>{1, 3}));
  EXPECT_EQ((a + b).to_vector(), (std::vector<float>{3, 12}));
  EXPECT_EQ((a - b).to_vector(), (std::vector<float>{1, -4}));
  EXPECT_EQ((a * b).to_vector(), (std::vector<float>{2, 32}));
  EXPECT_EQ((a / b).to_vector(), (std::vector<float>{2, 0.5f}));
  EXPECT_THROW(a + Tensor({3}), myelin::ShapeError);
}

TEST(Tensor, ShapeStrings) {
  EXPECT_EQ(myelin::shape_to_string({128, 10}), "(128, 10)");
  EXPECT_EQ(myelin::shape_to_string({5}), "(5,)");
  EXPECT_EQ(myelin::shape_to_string({-1, 32}, true), "(None, 32)");
}
