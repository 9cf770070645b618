// SideCore: a part offered while nobody serves is taken back and run on the calling thread; a serving
// thread runs it otherwise; either way each part runs once, with one OpenMP thread, and what either
// part throws reaches the caller. A loan is seen by its own thread only. kernels::gemm with a lent
// side core shares the batch's rows (a forward product) or the sum over them (a weight gradient):
// it matches the reference, and itself bit for bit whichever thread runs the offered part; with more
// than one compute thread it shares nothing. Dense's own bfloat16 kernels share the same rows: the
// forward product gives the unshared values bit for bit, the weight gradient itself whoever runs
// the part, and the unshared sums up to their order. The optimizers' square-root updates share a
// large tensor: the same bits as alone, in the caller's subnormal mode.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gemm_reference.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/optimizer.hpp"
#include "kernels/cpu/side_core.hpp"
#include "kernels/cpu/subnormals.hpp"
#include "myelin/random.hpp"

using myelin::kernels::SideCore;
using myelin::kernels::SideCoreLoan;

namespace {

// A thread that serves `core` until destroyed, counting the parts it ran.
class Server {
 public:
  explicit Server(SideCore& core)
      : thread_([this, &core] {
          while (!stop_)
            if (core.serve()) ++served_;
        }) {}
  ~Server() {
    stop_ = true;
    thread_.join();
  }
  int served() const { return served_; }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> served_{0};
  std::thread thread_;
};

// Runs `attempt` until `done()`, for at most five seconds: the server picks a part up within
// microseconds on an idle machine, but on a loaded one its thread may wait milliseconds for a time
// slice, longer than a few attempts take.
template <class Attempt, class Done>
void attempt_until(Attempt attempt, Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do attempt();
  while (!done() && std::chrono::steady_clock::now() < until);
}

// Restores the calling thread's OpenMP thread count.
struct Threads {
  explicit Threads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
  int saved;
};

}  // namespace

TEST(SideCore, PartOnOfferIsTakenBackWhenNobodyServes) {
  const Threads two(2);
  SideCore core;
  int mine = 0, theirs = 0, theirs_threads = 0;
  std::thread::id theirs_on;
  core.split([&] { ++mine; },
             [&] {
               ++theirs;
               theirs_threads = omp_get_max_threads();
               theirs_on = std::this_thread::get_id();
             });
  EXPECT_EQ(mine, 1);
  EXPECT_EQ(theirs, 1);
  EXPECT_EQ(theirs_on, std::this_thread::get_id());
  EXPECT_EQ(theirs_threads, 1) << "the offered part runs on one thread wherever it runs";
  EXPECT_EQ(omp_get_max_threads(), 2) << "the caller's thread count is restored";
  EXPECT_FALSE(core.offered());
  EXPECT_FALSE(core.serve()) << "nothing is left on offer";
}

TEST(SideCore, ServingThreadRunsTheOfferedPart) {
  SideCore core;
  Server server(core);
  for (int i = 0; i < 50; ++i) {
    std::atomic<bool> started{false};
    int mine = 0, theirs = 0, theirs_threads = 0;
    std::thread::id theirs_on;
    core.split(
        [&] {
          ++mine;
          // Waits (boundedly) for the server to start the other part, so that it is not taken back.
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!started && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        },
        [&] {
          started = true;
          ++theirs;
          theirs_threads = omp_get_max_threads();
          theirs_on = std::this_thread::get_id();
        });
    ASSERT_EQ(mine, 1);
    ASSERT_EQ(theirs, 1);
    ASSERT_EQ(theirs_on, server.id()) << "split " << i;
    ASSERT_EQ(theirs_threads, 1);
  }
  // The server counts a part after serve() returns, which can be after split() has returned here.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.served() < 50 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  EXPECT_EQ(server.served(), 50);
}

TEST(SideCore, WhatEitherPartThrowsReachesTheCaller) {
  SideCore core;
  auto throws = [] { throw std::runtime_error("offered part failed"); };
  auto nothing = [] {};
  // Taken back: no server.
  EXPECT_THROW(core.split(nothing, throws), std::runtime_error);
  EXPECT_THROW(core.split([] { throw std::logic_error("own part failed"); }, nothing), std::logic_error);
  {
    Server server(core);
    std::atomic<bool> started{false};
    EXPECT_THROW(core.split(
                     [&] {
                       const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                       while (!started && std::chrono::steady_clock::now() < until) std::this_thread::yield();
                     },
                     [&] {
                       started = true;
                       throw std::runtime_error("offered part failed on the server");
                     }),
                 std::runtime_error);
    // The failure leaves nothing behind: the next split runs both parts and throws nothing.
    int ran = 0;
    core.split([&] { ++ran; }, [&] { ++ran; });
    EXPECT_EQ(ran, 2);
  }
}

TEST(SideCoreLoan, SeenOnItsOwnThreadOnlyAndRestoredWhenItEnds) {
  SideCore a, b;
  EXPECT_EQ(myelin::kernels::lent_side_core(), nullptr);
  {
    const SideCoreLoan outer(&a);
    EXPECT_EQ(myelin::kernels::lent_side_core(), &a);
    SideCore* elsewhere = &b;
    std::thread([&] { elsewhere = myelin::kernels::lent_side_core(); }).join();
    EXPECT_EQ(elsewhere, nullptr) << "another thread sees this thread's loan";
    {
      const SideCoreLoan none(nullptr);
      EXPECT_EQ(myelin::kernels::lent_side_core(), nullptr);
    }
    EXPECT_EQ(myelin::kernels::lent_side_core(), &a);
  }
  EXPECT_EQ(myelin::kernels::lent_side_core(), nullptr);
}

// Shapes past the sharing bound (2^20 multiply-adds): a Dense layer's forward product and input
// gradient (the batch's rows in A) and its weight gradient (the batch's rows in K), odd halves and
// padded rows included.
TEST(SideCore, GemmSharedWithASideCoreMatchesReferenceAndItselfWhoeverRunsThePart) {
  const Threads one(1);
  myelin::Rng rng(3);
  const int sizes[][3] = {{128, 32, 784}, {129, 40, 300}, {784, 32, 128}, {301, 24, 151}};
  SideCore core;
  int served = 0;
  for (const auto& size : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.f, 0.5f}) {
          const int M = size[0], N = size[1], K = size[2];
          // Not a structured binding: clang 14 cannot capture one.
          const myelin::test::GemmCase g = myelin::test::random_gemm_case(rng, ta, tb, M, N, K, 0.75f, beta);
          auto product = [&](std::vector<float>& C) {
            C = g.C;
            myelin::kernels::gemm(ta, tb, M, N, K, 0.75f, g.A.data(), g.lda, g.B.data(), g.ldb, beta, C.data(), g.ldc);
          };
          std::vector<float> taken_back, on_server;
          {
            const SideCoreLoan loan(&core);
            product(taken_back);
            Server server(core);
            attempt_until([&] { product(on_server); }, [&] { return server.served() > 0; });
            served += server.served();
          }
          const std::string where = "M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" +
                                    std::to_string(K) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                                    " beta=" + std::to_string(beta);
          ASSERT_EQ(taken_back, on_server) << "the result depends on which thread ran the part: " << where;
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j)
              ASSERT_NEAR(taken_back[i * g.ldc + j], g.expect[i * g.ldc + j], 1e-4 * std::sqrt(double(K)) + 1e-5)
                  << where;
        }
  EXPECT_GT(served, 0) << "no product was shared with the side core";
}

TEST(SideCore, GemmSharesNothingWithMoreThanOneComputeThreadOrBelowTheBound) {
  myelin::Rng rng(4);
  std::vector<float> A(128 * 784), B(784 * 32), C(128 * 32);
  for (auto& v : A) v = rng.uniform(-1, 1);
  for (auto& v : B) v = rng.uniform(-1, 1);
  SideCore core;
  const SideCoreLoan loan(&core);
  Server server(core);
  {
    const Threads two(2);
    for (int t = 0; t < 20; ++t)
      myelin::kernels::gemm(false, false, 128, 32, 784, 1.f, A.data(), 784, B.data(), 32, 0.f, C.data(), 32);
  }
  {
    const Threads one(1);
    for (int t = 0; t < 20; ++t)  // 32 x 32 x 784: 0.8 M multiply-adds
      myelin::kernels::gemm(false, false, 32, 32, 784, 1.f, A.data(), 784, B.data(), 32, 0.f, C.data(), 32);
  }
  EXPECT_EQ(server.served(), 0);
}

// Dense's bfloat16 products of the shapes past the sharing bound: the seed MLP's first layer, odd row
// counts (the weight gradient's parts start at an even row) and a share smaller than a tile of rows.
TEST(SideCore, Bf16DenseKernelsSharedWithASideCoreMatchThemselvesWhoeverRunsThePart) {
  if (!myelin::kernels::own_bf16_dense_kernels_built())
    GTEST_SKIP() << "this build has no bfloat16 Dense kernels of its own (built without AVX512_BF16)";
  if (!myelin::kernels::bf16_supported()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  myelin::kernels::force_own_bf16_dense_kernels(true);  // the own kernels, with AMX too
  const Threads one(1);
  myelin::Rng rng(5);
  const int sizes[][3] = {{128, 32, 784}, {129, 40, 301}, {37, 64, 600}};  // rows, units, inputs
  SideCore core;
  int served = 0;
  for (const auto& size : sizes) {
    const int64_t M = size[0], N = size[1], K = size[2];
    const std::string where = std::to_string(M) + " rows, " + std::to_string(K) + " x " + std::to_string(N);
    std::vector<float> x(M * K), w(K * N), dy(M * N);
    for (auto* v : {&x, &w, &dy})
      for (auto& e : *v) e = rng.uniform(-1, 1);
    auto forward = [&](std::vector<float>& y) {
      y.assign(M * N, 7.f);
      std::vector<uint16_t> kept;
      myelin::kernels::dense_bf16(M, N, K, x.data(), K, w.data(), nullptr, kept, y.data(), N);
    };
    auto weight_gradient = [&](std::vector<float>& g) {
      g.assign(K * N, 7.f);
      myelin::kernels::weight_gradient_bf16(M, K, N, x.data(), K, dy.data(), N, g.data(), N);
    };
    std::vector<float> y_alone, g_alone, y_back, g_back, y_served, g_served;
    forward(y_alone);
    weight_gradient(g_alone);
    {
      const SideCoreLoan loan(&core);
      forward(y_back);
      weight_gradient(g_back);
      Server server(core);
      attempt_until(
          [&] {
            forward(y_served);
            weight_gradient(g_served);
          },
          [&] { return server.served() >= 2; });
      served += server.served();
    }
    ASSERT_EQ(y_back, y_alone) << "the shared forward product differs from the unshared one: " << where;
    ASSERT_EQ(y_served, y_alone) << "the shared forward product differs from the unshared one: " << where;
    ASSERT_EQ(g_back, g_served) << "the weight gradient depends on which thread ran the part: " << where;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        // Each sum of M products of values in [-1, 1], in float32 in another order.
        ASSERT_NEAR(g_back[k * N + n], g_alone[k * N + n], 1e-6 * double(M)) << where << ", " << k << ", " << n;
      }
    EXPECT_NE(g_back, g_alone) << "the weight gradient was not shared: " << where;
  }
  myelin::kernels::force_own_bf16_dense_kernels(false);
  EXPECT_GT(served, 0) << "no bfloat16 product was shared with the side core";
}

// The optimizer updates that take a square root and a division a value share a large tensor with a
// lent side core: the same bits as the update alone, whichever thread runs the part, and in the
// caller's subnormal mode. The gradients' squares are subnormal: under the optimizer's
// SubnormalsFlushed they flush to zero, where the server's own mode would keep them.
TEST(SideCore, OptimizerUpdatesSharedWithASideCoreMatchTheUpdateAloneInTheCallersSubnormalMode) {
  namespace k = myelin::kernels;
  const Threads one(1);
  const int64_t n = 784 * 32 + 5;  // the seed MLP's first kernel, and a tail
  myelin::Rng rng(5);
  std::vector<float> w0(n), g(n), m0(n), v0(n);
  for (int64_t i = 0; i < n; ++i) {
    w0[i] = rng.uniform(-1, 1);
    g[i] = rng.uniform(-1, 1) * (i % 3 == 0 ? 1e-20f : 1.f);  // a third of the squares subnormal
    m0[i] = rng.uniform(-1e-3f, 1e-3f);
    v0[i] = i % 3 == 0 ? 0.f : rng.uniform(0, 1e-3f);
  }
  struct State {
    std::vector<float> w, m, v;
  };
  const std::pair<const char*, std::function<void(State&)>> rules[] = {
      {"Adam", [&](State& s) { k::adam_update(s.w.data(), g.data(), s.m.data(), s.v.data(), n, 1e-3f, 0.9f, 0.999f,
                                              1e-7f); }},
      {"RMSprop", [&](State& s) { k::rmsprop_update(s.w.data(), g.data(), s.v.data(), n, 1e-3f, 0.9f, 1e-7f); }},
      {"Adagrad", [&](State& s) { k::adagrad_update(s.w.data(), g.data(), s.v.data(), n, 1e-3f, 1e-7f); }},
  };
  SideCore core;
  for (const auto& [name, rule] : rules) {
    // The flags on the compute thread only: a thread inherits its creator's (the server's is made
    // outside this scope, as fit's gatherer is made outside the optimizer's).
    auto updated = [&] {
      const k::SubnormalsFlushed flushed;
      State s{w0, m0, v0};
      rule(s);
      return s;
    };
    const State alone = updated();
    State back, served;
    int serves = 0;
    {
      const SideCoreLoan loan(&core);
      back = updated();
      Server server(core);
      attempt_until([&] { served = updated(); }, [&] { return server.served() > 0; });
      serves = server.served();
    }
    EXPECT_GT(serves, 0) << name << ": the update was not shared with the side core";
    for (const State* s : {&back, &served}) {
      const char* who = s == &back ? "taken back" : "served";
      EXPECT_EQ(s->w, alone.w) << name << ", " << who << ": weights";
      EXPECT_EQ(s->m, alone.m) << name << ", " << who << ": first moments";
      EXPECT_EQ(s->v, alone.v) << name << ", " << who << ": second moments";
    }
    EXPECT_EQ(std::count(alone.v.begin(), alone.v.end(), 0.f), (n + 2) / 3) << name << ": subnormals flushed";
  }
}
