// The steady-state training step must not allocate: layers size their buffers on the first batch and
// reuse them. This program replaces the global operator new/delete (every variant) and, with glibc, the
// malloc family too (Tensor storage comes from std::aligned_alloc, which operator new never sees), and
// counts calls while a training step runs.
//
// To find an allocation that a test reports: run this program under gdb with
// `break on_counted_allocation`, then `bt` at the stop.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "myelin/myelin.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_news{0}, g_mallocs{0};
// posix_memalign is counted apart: myelin never calls it (Tensor uses aligned_alloc), while oneDNN's
// sgemm takes its packing buffer from it on every call, which no caller can prevent.
std::atomic<long> g_posix_memaligns{0};
}  // namespace

// A named place for a debugger breakpoint; noinline so it exists in the binary.
extern "C" __attribute__((noinline)) void on_counted_allocation() { asm volatile(""); }

namespace {
inline void count_new() {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    on_counted_allocation();
  }
}
inline void count_malloc() {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    on_counted_allocation();
  }
}
void* new_impl(std::size_t n) {
  count_new();
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void* new_aligned_impl(std::size_t n, std::align_val_t al) {
  count_new();
  void* p = nullptr;
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  if (posix_memalign(&p, a, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return new_impl(n); }
void* operator new[](std::size_t n) { return new_impl(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return new_impl(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return new_impl(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a) { return new_aligned_impl(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return new_aligned_impl(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return new_aligned_impl(n, a);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return new_aligned_impl(n, a);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

// AddressSanitizer brings its own malloc family; defining it again here would mix two allocators
// (the program crashes at start), so under ASan only operator new/delete are counted.
#include "sanitizers.hpp"

#if defined(__GLIBC__) && !defined(MYELIN_UNDER_ASAN)
// glibc exports its allocator under __libc_* names, so the program can define the public names
// (which every shared library, oneDNN and OpenMP included, then calls) and forward to them.
#define MYELIN_COUNTS_MALLOC 1
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
  count_malloc();
  return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
  count_malloc();
  return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
  count_malloc();
  return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  count_malloc();
  return __libc_memalign(a, n);
}
void* memalign(std::size_t a, std::size_t n) {
  count_malloc();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_posix_memaligns.fetch_add(1, std::memory_order_relaxed);
  if (a < sizeof(void*) || (a & (a - 1)) != 0) return 22;  // EINVAL
  void* p = __libc_memalign(a, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}
#else
#define MYELIN_COUNTS_MALLOC 0
#endif

using namespace myelin;

namespace {

struct Counts {
  long news, mallocs;
};

template <class F>
Counts count_allocations(F&& f) {
  g_news = 0;
  g_mallocs = 0;
  g_posix_memaligns = 0;
  g_counting = true;
  f();
  g_counting = false;
  return {g_news.load(), g_mallocs.load()};
}

// 4x4 "images" of 5 classes, batches of 16.
struct Batch {
  Tensor x{Shape{16, 4, 4}}, y{Shape{16, 1}};
  explicit Batch(int offset = 0) {
    for (int64_t i = 0; i < x.size(); ++i) x[i] = float((i * 7 + offset) % 13) / 13.f - 0.5f;
    for (int r = 0; r < 16; ++r) y[r] = float((r + offset) % 5);
  }
};

Sequential mlp() {
  set_random_seed(0);
  Sequential m({layers::Flatten(Shape{4, 4}), layers::Dense(32, "relu"), layers::Dropout(0.2f),
                layers::Dense(5, "softmax")});
  m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

// The same task as a graph: a residual block (fan-out of `h`, its gradients summed at the Add), a
// shared Dense called twice and a Concatenate, so the graph's own buffers are exercised too.
Model residual() {
  set_random_seed(0);
  auto in = layers::Input({4, 4});
  auto h = layers::Dense(32, "relu")(layers::Flatten()(in));
  auto block = layers::Dense(32, "relu")(layers::Dropout(0.2f)(h));
  auto r = layers::Add()({h, block});
  auto shared = std::make_shared<layers::Dense>(8, "tanh");
  auto s1 = call_layer(shared, {r});
  auto s2 = call_layer(shared, {layers::Dense(32)(r)});
  Model m(in, layers::Dense(5, "softmax")(layers::Concatenate()({s1, s2})));
  m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

}  // namespace

TEST(Allocations, CountersSeeAllocations) {
  // The counting itself must work, or a zero below would mean nothing.
  Counts c = count_allocations([] {
    auto* v = new std::vector<int>(100);
    delete v;
    Tensor t(Shape{64});  // storage from std::aligned_alloc
  });
  EXPECT_GE(c.news, 2);  // the vector object and its buffer
  if (MYELIN_COUNTS_MALLOC) {
    EXPECT_GE(c.mallocs, 3);  // the two above through malloc, plus the tensor
  }
}

// train_on_batch on same-size batches after two warm-up calls.
TEST(Allocations, TrainOnBatchSteadyStateAllocatesNothing) {
  auto m = mlp();
  Batch a(0), b(3);
  m.train_on_batch(a.x, a.y);
  m.train_on_batch(b.x, b.y);
  Counts c = count_allocations([&] {
    for (int i = 0; i < 3; ++i) m.train_on_batch(i % 2 ? a.x : b.x, i % 2 ? a.y : b.y);
  });
  EXPECT_EQ(c.news, 0) << "operator new calls in 3 train_on_batch steps";
  EXPECT_EQ(c.mallocs, 0) << "malloc-family calls in 3 train_on_batch steps";
  // oneDNN's packing buffers: at most one per matrix product (2 forward, 2 weight gradients and 1
  // input gradient per step: the first Dense needs none, Flatten being its only layer below), so
  // they cannot grow with the number of steps either.
  EXPECT_LE(g_posix_memaligns.load(), 3 * 5);
}

TEST(Allocations, ResidualGraphTrainOnBatchSteadyStateAllocatesNothing) {
  auto m = residual();
  Batch a(0), b(3);
  m.train_on_batch(a.x, a.y);
  m.train_on_batch(b.x, b.y);
  Counts c = count_allocations([&] {
    for (int i = 0; i < 3; ++i) m.train_on_batch(i % 2 ? a.x : b.x, i % 2 ? a.y : b.y);
  });
  EXPECT_EQ(c.news, 0) << "operator new calls in 3 train_on_batch steps of a residual graph";
  EXPECT_EQ(c.mallocs, 0) << "malloc-family calls in 3 train_on_batch steps of a residual graph";
}

// The step inside fit(): from a batch's on_train_batch_begin to its on_train_batch_end (gathering the
// shuffled rows, forward, loss, backward, optimizer, metrics), for every full-size batch after the first epoch.
// (Regressions this caught: Shape copies in the input checks, and libgomp allocating a one-thread team
// for a `parallel for if(false)` in the activation kernels.)
namespace {
void expect_fit_inner_loop_allocates_nothing(Model& m) {
  Tensor x(Shape{64, 4, 4}), y(Shape{64, 1});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = float((i * 5) % 11) / 11.f - 0.5f;
  for (int r = 0; r < 64; ++r) y[r] = float(r % 5);
  int epoch = 0;
  long news = 0, mallocs = 0, measured = 0;
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  cb->epoch_begin = [&](int e, const Logs&) { epoch = e; };
  cb->batch_begin = [&](int, const Logs&) {
    if (epoch == 0) return;
    g_news = 0;
    g_mallocs = 0;
    g_counting = true;
  };
  cb->batch_end = [&](int, const Logs&) {
    if (!g_counting) return;
    g_counting = false;
    news += g_news;
    mallocs += g_mallocs;
    ++measured;
  };
  m.fit(x, y, {.epochs = 3, .batch_size = 16, .callbacks = {cb}, .verbose = 0});
  EXPECT_EQ(measured, 8);  // 4 batches in each of epochs 1 and 2
  EXPECT_EQ(news, 0) << "operator new calls in " << measured << " fit steps";
  EXPECT_EQ(mallocs, 0) << "malloc-family calls in " << measured << " fit steps";
}
}  // namespace

TEST(Allocations, FitInnerLoopAllocatesNothing) {
  auto m = mlp();
  expect_fit_inner_loop_allocates_nothing(m);
}

TEST(Allocations, ResidualGraphFitInnerLoopAllocatesNothing) {
  auto m = residual();
  expect_fit_inner_loop_allocates_nothing(m);
}

namespace {
// Two inputs, a shared hidden layer read by both heads, a softmax head fused with its loss and a
// linear one, compiled with a loss weight and a metric per output.
Model two_inputs_two_outputs() {
  set_random_seed(0);
  auto a = layers::Input({4}, "a");
  auto b = layers::Input({3}, "b");
  auto h = layers::Dense(16, "relu")(layers::Concatenate()({a, b}));
  auto cls = layers::Dense(5, "softmax", {.name = "class"})(h);
  auto box = layers::Dense(2, "linear", {.name = "box"})(h);
  Model m({a, b}, {cls, box});
  m.compile(optimizers::Adam(1e-3), {{"class", "sparse_categorical_crossentropy"}, {"box", "mse"}},
            {.loss_weights = {{"class", 1.0}, {"box", 0.5}}, .metrics = {{"class", {"accuracy"}}},
             .weighted_metrics = {{"box", {"mae"}}}});
  return m;
}

struct TwoByTwoBatch {
  Tensor xa{Shape{16, 4}}, xb{Shape{16, 3}}, y_class{Shape{16, 1}}, y_box{Shape{16, 2}}, w{Shape{16}};
  explicit TwoByTwoBatch(int offset = 0) {
    for (int64_t i = 0; i < xa.size(); ++i) xa[i] = float((i * 7 + offset) % 13) / 13.f - 0.5f;
    for (int64_t i = 0; i < xb.size(); ++i) xb[i] = float((i * 5 + offset) % 11) / 11.f - 0.5f;
    for (int r = 0; r < 16; ++r) y_class[r] = float((r + offset) % 5), w[r] = float(1 + r % 3);
    for (int64_t i = 0; i < y_box.size(); ++i) y_box[i] = float(i % 4) / 4.f;
  }
};
}  // namespace

// train_on_batch on a two-input two-output model with sample weights, arrays given as lists built
// once (as a training loop holding its batches would).
TEST(Allocations, TwoInputsTwoOutputsTrainOnBatchAllocatesNothing) {
  auto m = two_inputs_two_outputs();
  TwoByTwoBatch a(0), b(3);
  const DataArg xa{a.xa, a.xb}, ya{a.y_class, a.y_box}, wa(a.w);
  const DataArg xb{b.xa, b.xb}, yb{b.y_class, b.y_box}, wb(b.w);
  m.train_on_batch(xa, ya, wa);
  m.train_on_batch(xb, yb, wb);
  Counts c = count_allocations([&] {
    for (int i = 0; i < 3; ++i) m.train_on_batch(i % 2 ? xa : xb, i % 2 ? ya : yb, i % 2 ? wa : wb);
  });
  EXPECT_EQ(c.news, 0) << "operator new calls in 3 train_on_batch steps";
  EXPECT_EQ(c.mallocs, 0) << "malloc-family calls in 3 train_on_batch steps";
}

// fit's inner loop on the same model, with class weights (made from each batch's targets in the step).
TEST(Allocations, TwoInputsTwoOutputsFitInnerLoopAllocatesNothing) {
  auto m = two_inputs_two_outputs();
  Tensor xa(Shape{64, 4}), xb(Shape{64, 3}), y_class(Shape{64, 1}), y_box(Shape{64, 2});
  for (int64_t i = 0; i < xa.size(); ++i) xa[i] = float((i * 5) % 11) / 11.f - 0.5f;
  for (int64_t i = 0; i < xb.size(); ++i) xb[i] = float((i * 3) % 7) / 7.f - 0.5f;
  for (int r = 0; r < 64; ++r) y_class[r] = float(r % 5);
  for (int64_t i = 0; i < y_box.size(); ++i) y_box[i] = float(i % 4) / 4.f;
  int epoch = 0;
  long news = 0, mallocs = 0, measured = 0;
  auto cb = std::make_shared<callbacks::LambdaCallback>();
  cb->epoch_begin = [&](int e, const Logs&) { epoch = e; };
  cb->batch_begin = [&](int, const Logs&) {
    if (epoch == 0) return;
    g_news = 0;
    g_mallocs = 0;
    g_counting = true;
  };
  cb->batch_end = [&](int, const Logs&) {
    if (!g_counting) return;
    g_counting = false;
    news += g_news;
    mallocs += g_mallocs;
    ++measured;
  };
  m.fit({xa, xb}, {y_class, y_box},
        {.epochs = 3, .batch_size = 16, .callbacks = {cb}, .verbose = 0, .class_weight = {{0, 2.0}, {3, 0.5}}});
  EXPECT_EQ(measured, 8);  // 4 batches in each of epochs 1 and 2
  EXPECT_EQ(news, 0) << "operator new calls in " << measured << " fit steps";
  EXPECT_EQ(mallocs, 0) << "malloc-family calls in " << measured << " fit steps";
}

// The same 4x4 inputs read as sequences of 4 steps with 4 channels, through the sequence layers
// that have no convolution (oneDNN's convolution primitives allocate their argument lists on each
// call, Conv2D's and Conv1D's alike). Dense applies per step, and its relu's backward is left to the
// max pooling above it.
namespace {
Sequential sequence_model() {
  set_random_seed(0);
  Sequential m({layers::Dense(8, "relu", {.input_shape = Shape{4, 4}}), layers::MaxPooling1D(2), layers::UpSampling1D(2),
                layers::AveragePooling1D(2, 1, "same"), layers::GlobalMaxPooling1D(true),
                layers::UpSampling1D(3), layers::GlobalAveragePooling1D(), layers::Dense(5, "softmax")});
  m.compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}
}  // namespace

TEST(Allocations, SequenceLayersTrainOnBatchSteadyStateAllocatesNothing) {
  auto m = sequence_model();
  Batch a(0), b(3);
  m.train_on_batch(a.x, a.y);
  m.train_on_batch(b.x, b.y);
  Counts c = count_allocations([&] {
    for (int i = 0; i < 3; ++i) m.train_on_batch(i % 2 ? a.x : b.x, i % 2 ? a.y : b.y);
  });
  EXPECT_EQ(c.news, 0) << "operator new calls in 3 train_on_batch steps of a sequence model";
  EXPECT_EQ(c.mallocs, 0) << "malloc-family calls in 3 train_on_batch steps of a sequence model";
}

TEST(Allocations, SequenceLayersFitInnerLoopAllocatesNothing) {
  auto m = sequence_model();
  expect_fit_inner_loop_allocates_nothing(m);
}
