// SimpleRNN, LSTM, GRU and Bidirectional: forward cases worked by hand, gradients against central
// finite differences (input, kernel, recurrent kernel, bias; last state or whole sequence; forwards
// and backwards), PyTorch's nn.RNN, nn.LSTM and nn.GRU (one and both directions) on shared weights
// (tests/pytorch/recurrent_reference.py), the Orthogonal initializer, save and load, the errors, and
// the kernel's batch-1 steps shared among threads by units against its one-thread steps.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "kernels/cpu/recurrent.hpp"
#include "recurrent_layers.hpp"
#include "myelin/error.hpp"
#include "myelin/initializers.hpp"
#include "myelin/io/config.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/layers/bidirectional.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/recurrent.hpp"
#include "myelin/layers/registry.hpp"
#include "myelin/model.hpp"
#include "myelin/threading.hpp"
#include "reference_file.hpp"
#include "torch_reference.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using namespace myelin::layers;
using myelin::test::expect_error;
using myelin::test::gradients_close;
using myelin::test::make_recurrent;
using myelin::test::numerical_gradient;
using myelin::test::random_tensor;
using myelin::test::weighted_sum;

namespace {

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

}  // namespace

// ---- Orthogonal ------------------------------------------------------------------------------------

// The shorter side is orthonormal: W W^T = I for a wide matrix, W^T W = I for a tall one.
TEST(Orthogonal, ShorterSideIsOrthonormalAndSeeded) {
  for (const Shape& shape : {Shape{4, 12}, Shape{12, 4}, Shape{5, 5}, Shape{2, 3, 6}}) {
    SCOPED_TRACE(shape_to_string(shape));
    Tensor w(shape);
    Rng rng(3);
    initializers::fill(initializers::Orthogonal(), w, 0, 0, rng);
    const int64_t cols = shape.back(), rows = w.size() / cols;
    const bool wide = rows < cols;
    const int64_t k = wide ? rows : cols, len = wide ? cols : rows;
    auto at = [&](int64_t vec, int64_t i) { return double(wide ? w[vec * cols + i] : w[i * cols + vec]); };
    for (int64_t a = 0; a < k; ++a)
      for (int64_t b = 0; b < k; ++b) {
        double d = 0;
        for (int64_t i = 0; i < len; ++i) d += at(a, i) * at(b, i);
        EXPECT_NEAR(d, a == b ? 1.0 : 0.0, 1e-6) << a << ", " << b;
      }
    Tensor again(shape), other(shape);
    Rng same(3), different(4);
    initializers::fill("orthogonal", again, 0, 0, same);
    initializers::fill("orthogonal", other, 0, 0, different);
    EXPECT_EQ(again.to_vector(), w.to_vector());
    EXPECT_NE(other.to_vector(), w.to_vector());
  }
  // Keras's config, and only gain 1.
  EXPECT_EQ(io::initializer_to_json(initializers::Orthogonal()),
            nlohmann::json({{"class_name", "Orthogonal"}, {"config", {{"gain", 1.0}}}}));
  EXPECT_EQ(io::initializer_from_json({{"class_name", "Orthogonal"}, {"config", {{"gain", 1.0}, {"seed", nullptr}}}}).name,
            "orthogonal");
  expect_error<ValueError>(
      [] { io::initializer_from_json({{"class_name", "Orthogonal"}, {"config", {{"gain", 2.0}}}}); },
      {"Orthogonal", "gain"});
}

// ---- Forward by hand -------------------------------------------------------------------------------

// One unit, one feature, linear: h_t = 0.5 x_t + 2 h_{t-1} + 0.1.
TEST(SimpleRNN, ForwardByHand) {
  Rng rng(0);
  const Tensor x({1, 3, 1}, {1, 2, -1});
  SimpleRNN last(1, {.activation = "linear"});
  last.build({3, 1}, rng);
  last.kernel()[0] = 0.5f;
  last.recurrent_kernel()[0] = 2.f;
  last.bias()[0] = 0.1f;
  // h = 0.6, then 1 + 1.2 + 0.1 = 2.3, then -0.5 + 4.6 + 0.1 = 4.2.
  const Tensor y = last.forward(x, false).clone();
  ASSERT_EQ(y.shape(), (Shape{1, 1}));
  EXPECT_NEAR(y[0], 4.2f, 1e-6);

  SimpleRNN seq(1, {.activation = "linear", .return_sequences = true, .go_backwards = true});
  seq.build({3, 1}, rng);
  seq.kernel()[0] = 0.5f;
  seq.recurrent_kernel()[0] = 2.f;
  seq.bias()[0] = 0.1f;
  // Steps over x = -1, 2, 1: -0.4, then 1 - 0.8 + 0.1 = 0.3, then 0.5 + 0.6 + 0.1 = 1.2; in the order run.
  const Tensor ys = seq.forward(x, false).clone();
  ASSERT_EQ(ys.shape(), (Shape{1, 3, 1}));
  EXPECT_NEAR(ys[0], -0.4f, 1e-6);
  EXPECT_NEAR(ys[1], 0.3f, 1e-6);
  EXPECT_NEAR(ys[2], 1.2f, 1e-6);

  // tanh, two units, no recurrent weight: each step is tanh(x W + b) of its own input.
  SimpleRNN t(2, {.input_shape = Shape{2, 1}});
  t.build({2, 1}, rng);
  t.kernel().copy_from(Tensor({1, 2}, {1.f, -2.f}));
  t.recurrent_kernel().fill(0.f);
  t.bias().copy_from(Tensor({2}, {0.f, 0.5f}));
  const Tensor yt = t.forward(Tensor({1, 2, 1}, {3.f, 0.25f}), false).clone();
  EXPECT_NEAR(yt[0], std::tanh(0.25), 1e-6);
  EXPECT_NEAR(yt[1], std::tanh(0.0), 1e-6);
}

// One unit, one feature, one step, from a zero state: LSTM c = i g, h = o tanh(c); GRU h = (1 - z) hh.
TEST(LSTMAndGRU, OneStepByHand) {
  Rng rng(0);
  const Tensor x({1, 1, 1}, {2.f});
  LSTM lstm(1);
  lstm.build({1, 1}, rng);
  EXPECT_EQ(lstm.bias().to_vector(), (std::vector<float>{0, 1, 0, 0}));  // unit_forget_bias
  lstm.kernel().copy_from(Tensor({1, 4}, {0.5f, 3.f, 1.f, -1.f}));       // i, f, c, o
  // i = sigmoid(1), g = tanh(2), o = sigmoid(-2); the forget gate multiplies the zero state.
  const double c = sigmoid(1) * std::tanh(2.0);
  EXPECT_NEAR(lstm.forward(x, false)[0], sigmoid(-2) * std::tanh(c), 1e-6);

  GRU gru(1);
  gru.build({1, 1}, rng);
  ASSERT_EQ(gru.bias().shape(), (Shape{2, 3}));
  gru.kernel().copy_from(Tensor({1, 3}, {0.25f, 1.f, 0.75f}));  // z, r, h
  gru.bias().copy_from(Tensor({2, 3}, {0.f, 0.f, 0.1f, 0.f, 0.f, 0.3f}));
  // z = sigmoid(0.5), r = sigmoid(2), hh = tanh(1.5 + 0.1 + r * (0 + 0.3)); h = (1 - z) hh.
  const double hh = std::tanh(1.6 + sigmoid(2) * 0.3);
  EXPECT_NEAR(gru.forward(x, false)[0], (1 - sigmoid(0.5)) * hh, 1e-6);
}

// ---- Gradients ---------------------------------------------------------------------------------------

struct GradCase {
  const char* cls;
  bool return_sequences, go_backwards, use_bias;
  const char* activation;
};

TEST(Recurrent, GradientsMatchFiniteDifferences) {
  std::vector<GradCase> cases;
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"})
    for (bool seq : {false, true})
      for (bool back : {false, true}) cases.push_back({cls, seq, back, true, "tanh"});
  cases.push_back({"SimpleRNN", true, false, false, "sigmoid"});
  cases.push_back({"LSTM", false, false, false, "tanh"});
  cases.push_back({"GRU", true, true, false, "tanh"});
  // Activations other than Keras's default tanh take the kernels' general derivative path.
  cases.push_back({"LSTM", true, false, true, "sigmoid"});
  cases.push_back({"GRU", false, true, true, "sigmoid"});
  for (const auto& c : cases) {
    const std::string what = std::string(c.cls) + (c.return_sequences ? " sequences" : " last") +
                             (c.go_backwards ? " backwards" : "") + (c.use_bias ? "" : " no bias") + " " +
                             c.activation;
    SCOPED_TRACE(what);
    Rng rng(11);
    auto layer = make_recurrent(c.cls, 3,
                      {.activation = c.activation, .use_bias = c.use_bias, .return_sequences = c.return_sequences,
                       .go_backwards = c.go_backwards});
    const Shape out = layer->build({4, 3}, rng);
    // Weights larger than glorot's so every gate sits away from its linear middle.
    for (Tensor* t : {&layer->kernel(), &layer->recurrent_kernel()})
      for (int64_t i = 0; i < t->size(); ++i) (*t)[i] = rng.uniform(-0.9f, 0.9f);
    if (c.use_bias)
      for (int64_t i = 0; i < layer->bias().size(); ++i) layer->bias()[i] = rng.uniform(-0.5f, 0.5f);
    Tensor x = random_tensor({2, 4, 3}, rng, -1, 1);
    const Tensor w = random_tensor(with_batch(2, out), rng, -1, 1);
    auto loss = [&] { return weighted_sum(layer->forward(x, true), w); };

    const Tensor num_x = numerical_gradient(loss, x, 1e-2);
    const Tensor num_k = numerical_gradient(loss, layer->kernel(), 1e-2);
    const Tensor num_r = numerical_gradient(loss, layer->recurrent_kernel(), 1e-2);
    Tensor num_b;
    if (c.use_bias) num_b = numerical_gradient(loss, layer->bias(), 1e-2);

    layer->forward(x, true);
    const Tensor dx = layer->backward(w).clone();
    auto params = layer->params();
    ASSERT_EQ(params.size(), c.use_bias ? 3u : 2u);
    EXPECT_EQ(params[1].name, "recurrent_kernel");
    EXPECT_TRUE(gradients_close(dx, num_x, 1e-3, 1e-2)) << "input";
    EXPECT_TRUE(gradients_close(*params[0].grad, num_k, 1e-3, 1e-2)) << "kernel";
    EXPECT_TRUE(gradients_close(*params[1].grad, num_r, 1e-3, 1e-2)) << "recurrent_kernel";
    if (c.use_bias) {
      EXPECT_TRUE(gradients_close(*params[2].grad, num_b, 1e-3, 1e-2)) << "bias";
    }
  }
}

// ---- Dropout ----------------------------------------------------------------------------------------------

// Keras 3's masks, read off a linear SimpleRNN with identity weights, h_t = x_t m + (h_{t-1} r) I:
// one input mask m and one recurrent mask r per sample, the same at every step, each entry 0 or
// 1 / (1 - rate); none outside training.
TEST(Recurrent, DropoutMasksAreOnePerSampleForTheWholeSequence) {
  Rng rng(1);
  const int64_t batch = 64, steps = 4, units = 8;
  SimpleRNN l(units, {.activation = "linear", .return_sequences = true, .dropout = 0.25f, .recurrent_dropout = 0.5f});
  l.build({steps, units}, rng);
  l.kernel().fill(0.f);
  l.recurrent_kernel().fill(0.f);
  for (int64_t j = 0; j < units; ++j) l.kernel()[j * units + j] = l.recurrent_kernel()[j * units + j] = 1.f;
  Tensor x({batch, steps, units});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(0.5f, 1.5f);  // away from 0: every ratio defined
  const Tensor y = l.forward(x, true).clone();
  int64_t input_dropped = 0, state_dropped = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < units; ++j) {
      auto at = [&](const Tensor& t, int64_t s) { return double(t[(b * steps + s) * units + j]); };
      const double m = at(y, 0) / at(x, 0);  // h_{-1} = 0: the first step shows the input mask
      EXPECT_TRUE(std::abs(m) < 1e-6 || std::abs(m - 1 / 0.75) < 1e-5) << m;
      if (std::abs(m) < 1e-6) {  // the feature is dropped at every step, and the state never gets any
        ++input_dropped;
        for (int64_t s = 1; s < steps; ++s) EXPECT_EQ(at(y, s), 0.0) << "step " << s;
        continue;
      }
      const double r = (at(y, 1) - m * at(x, 1)) / at(y, 0);
      EXPECT_TRUE(std::abs(r) < 1e-4 || std::abs(r - 2.0) < 1e-4) << r;
      state_dropped += std::abs(r) < 1e-4;
      for (int64_t s = 2; s < steps; ++s)  // the same masks at the later steps
        EXPECT_NEAR(at(y, s), m * at(x, s) + r * at(y, s - 1), 1e-4) << "step " << s;
    }
  // 512 draws each: rates 0.25 and 0.5 within a few standard deviations.
  EXPECT_NEAR(double(input_dropped) / (batch * units), 0.25, 0.07);
  EXPECT_NEAR(double(state_dropped) / (batch * units - input_dropped), 0.5, 0.08);
  // Inference: no masks.
  SimpleRNN plain(units, {.activation = "linear", .return_sequences = true});
  plain.build({steps, units}, rng);
  plain.kernel().copy_from(l.kernel());
  plain.recurrent_kernel().copy_from(l.recurrent_kernel());
  EXPECT_EQ(l.forward(x, false).to_vector(), plain.forward(x, false).to_vector());
}

// With the masks held fixed (the layer's stream reseeded before each forward), the gradients of every
// cell under both dropouts match central differences.
TEST(Recurrent, DropoutGradientsMatchFiniteDifferences) {
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"})
    for (const bool seq : {false, true}) {
      SCOPED_TRACE(std::string(cls) + (seq ? " sequences" : " last"));
      Rng rng(12);
      auto layer = make_recurrent(cls, 3, {.return_sequences = seq, .go_backwards = seq, .dropout = 0.3f, .recurrent_dropout = 0.4f});
      const Shape out = layer->build({4, 3}, rng);
      for (Tensor* t : {&layer->kernel(), &layer->recurrent_kernel(), &layer->bias()})
        for (int64_t i = 0; i < t->size(); ++i) (*t)[i] = rng.uniform(-0.9f, 0.9f);
      Tensor x = random_tensor({3, 4, 3}, rng, -1, 1);
      const Tensor w = random_tensor(with_batch(3, out), rng, -1, 1);
      auto run = [&] {
        Rng masks(77);
        layer->reseed(masks);
        return &layer->forward(x, true);
      };
      auto loss = [&] { return weighted_sum(*run(), w); };
      const Tensor num_x = numerical_gradient(loss, x, 1e-2);
      const Tensor num_k = numerical_gradient(loss, layer->kernel(), 1e-2);
      const Tensor num_r = numerical_gradient(loss, layer->recurrent_kernel(), 1e-2);
      const Tensor num_b = numerical_gradient(loss, layer->bias(), 1e-2);
      run();
      const Tensor dx = layer->backward(w).clone();
      auto p = layer->params();
      EXPECT_TRUE(gradients_close(dx, num_x, 1e-3, 1e-2)) << "input";
      EXPECT_TRUE(gradients_close(*p[0].grad, num_k, 1e-3, 1e-2)) << "kernel";
      EXPECT_TRUE(gradients_close(*p[1].grad, num_r, 1e-3, 1e-2)) << "recurrent_kernel";
      EXPECT_TRUE(gradients_close(*p[2].grad, num_b, 1e-3, 1e-2)) << "bias";
      int zeros = 0;
      for (int64_t i = 0; i < dx.size(); ++i) zeros += dx[i] == 0.f;
      EXPECT_GT(zeros, 0);  // some input features were dropped: the case exercises the mask
    }
}

// An inference pass that no backward follows keeps nothing, and gives the same output bit for bit;
// a backward after it is refused rather than reading stale steps.
TEST(Recurrent, LightInferenceGivesTheSameOutput) {
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"}) {
    SCOPED_TRACE(cls);
    Rng rng(2);
    auto layer = make_recurrent(cls, 5, {.return_sequences = true});
    layer->build({6, 3}, rng);
    const Tensor x = random_tensor({4, 6, 3}, rng, -1, 1);
    const Tensor full = layer->forward(x, true).clone();
    layer->set_backward_follows(false);
    EXPECT_EQ(layer->forward(x, false).to_vector(), full.to_vector());
    expect_error<ValueError>([&] { layer->backward(full); }, {cls, "backward"});
    layer->set_backward_follows(true);
  }
}

// ---- Batch 1: the units shared among the threads ----------------------------------------------------

namespace {

struct KernelRun {
  std::vector<float> y, h, c, dx, dkernel, drecurrent, dbias, dh0, dc0;
  kernels::RecurrentWorkspace ws;
};

// Forward (keeping what backward reads) and backward of the kernel on `threads` threads, from a
// gradient of every output.
using Floats = std::vector<float>;
KernelRun run_kernel(const kernels::RecurrentGeometry& g, int threads, const Floats& x, const Floats& kernel,
                     const Floats& recurrent, const Floats& bias, const float* h0, const float* c0, const Floats& dy,
                     const float* recurrent_mask = nullptr) {
  const int saved = num_threads();
  set_num_threads(threads);
  const int64_t U = g.units, F = g.features, N = kernels::recurrent_gates(g.cell) * U;
  KernelRun r;
  r.y.resize(dy.size());
  kernels::recurrent_forward(g, x.data(), kernel.data(), recurrent.data(), bias.data(), recurrent_mask, h0, c0,
                             r.y.data(), true, r.ws);
  r.h = r.ws.h;
  r.c = r.ws.c;
  r.dx.resize(x.size());
  r.dkernel.resize(size_t(F * N));
  r.drecurrent.resize(size_t(U * N));
  r.dbias.resize(bias.size());
  r.dh0.resize(size_t(g.batch * U));
  r.dc0.resize(size_t(g.batch * U));
  kernels::recurrent_backward(g, x.data(), kernel.data(), recurrent.data(), recurrent_mask, dy.data(), nullptr, nullptr, r.ws,
                              r.dx.data(), r.dkernel.data(), r.drecurrent.data(), r.dbias.data(), r.dh0.data(),
                              g.cell == kernels::RecurrentCell::LSTM ? r.dc0.data() : nullptr);
  set_num_threads(saved);
  return r;
}

// Random inputs of the kernel for geometry g: the input, weights, bias, a gradient of every output,
// an initial state, a mask padding every `pad_every`-th step and a recurrent dropout mask dropping
// every `drop_every`-th state unit (the others scaled by `kept`).
struct KernelInputs {
  Floats x, kernel, recurrent, bias, dy, h0, c0, mask, dropout;
};
KernelInputs kernel_inputs(const kernels::RecurrentGeometry& g, uint64_t seed, int64_t pad_every, int64_t drop_every,
                           float kept) {
  const int64_t B = g.batch, T = g.steps, U = g.units, N = kernels::recurrent_gates(g.cell) * U;
  Rng rng(seed);
  auto values = [&](int64_t n, float scale) { return random_tensor({n}, rng, -scale, scale).to_vector(); };
  KernelInputs in;
  in.x = values(B * T * g.features, 1.f);
  in.kernel = values(g.features * N, 0.3f);
  in.recurrent = values(U * N, 0.3f);
  in.bias = values(g.cell == kernels::RecurrentCell::GRU ? 2 * N : N, 0.2f);
  in.dy = values(g.return_sequences ? B * T * U : B * U, 1.f);
  in.h0 = values(B * U, 0.5f);
  in.c0 = values(B * U, 0.5f);
  in.mask.assign(size_t(B * T), 1.f);
  for (int64_t i = 0; i < B * T; i += pad_every) in.mask[size_t(i)] = 0.f;
  in.dropout.resize(size_t(B * U));
  for (int64_t i = 0; i < B * U; ++i) in.dropout[size_t(i)] = i % drop_every == 0 ? 0.f : kept;
  return in;
}

void expect_near_all(const std::vector<float>& a, const std::vector<float>& b, double tolerance, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  EXPECT_LE(worst, tolerance) << what;
}

}  // namespace

// At batch 1 a step's recurrent product is too small to share by rows: a team of threads shares the
// units, each computing its units' columns of every gate. Its outputs, final state, kept values
// (through backward's gradients) match the one-thread kernel's within float32's rounding of the
// sums, and are the same bits for teams of two and three; a mask sends the batch back to the rows.
// Backward's weight gradients are GEMMs over the kept values, whose sums may be split by the number
// of threads (oneDNN's AVX2 sgemm does), so the teams' kept values are compared bit for bit instead.
TEST(RecurrentKernel, BatchOneSharesTheUnitsAmongTheThreads) {
  using kernels::RecurrentCell;
  for (RecurrentCell cell : {RecurrentCell::SimpleRNN, RecurrentCell::LSTM, RecurrentCell::GRU})
    for (int64_t units : {64, 96, 128})
      for (int variant = 0; variant < 4; ++variant) {
        kernels::RecurrentGeometry g;
        g.cell = cell;
        g.batch = 1;
        g.steps = 5 + variant % 2;  // the final state in either of the two buffers
        g.features = 24;
        g.units = units;
        g.return_sequences = variant % 2 == 0;
        g.go_backwards = variant == 1;
        const bool initial_state = variant >= 2;
        SCOPED_TRACE(::testing::Message() << "cell " << int(cell) << ", units " << units << ", variant " << variant);
        const int64_t U = units, F = g.features, N = kernels::recurrent_gates(cell) * U;
        Rng rng(7 + variant);
        auto values = [&](int64_t n, float scale) {
          std::vector<float> v = random_tensor({n}, rng, -scale, scale).to_vector();
          return v;
        };
        const std::vector<float> x = values(g.steps * F, 1.f), kernel = values(F * N, 0.3f),
                                 recurrent = values(U * N, 0.15f),
                                 bias = values(cell == RecurrentCell::GRU ? 2 * N : N, 0.2f),
                                 h0 = values(U, 0.5f), c0 = values(U, 0.5f),
                                 dy = values(g.return_sequences ? g.steps * U : U, 1.f);
        const float* h0p = initial_state ? h0.data() : nullptr;
        const float* c0p = initial_state && cell == RecurrentCell::LSTM ? c0.data() : nullptr;

        const int saved = num_threads();
        set_num_threads(2);
        EXPECT_EQ(kernels::recurrent_team_size(g, nullptr), 2);
        const std::vector<float> mask(size_t(g.steps), 1.f), dropout(size_t(U), 1.f);
        EXPECT_EQ(kernels::recurrent_team_size(g, dropout.data()), 1);
        kernels::RecurrentGeometry masked = g;
        masked.mask = mask.data();
        EXPECT_EQ(kernels::recurrent_team_size(masked, nullptr), 1);
        set_num_threads(1);
        EXPECT_EQ(kernels::recurrent_team_size(g, nullptr), 1);
        set_num_threads(saved);

        const KernelRun rows = run_kernel(g, 1, x, kernel, recurrent, bias, h0p, c0p, dy);
        const KernelRun two = run_kernel(g, 2, x, kernel, recurrent, bias, h0p, c0p, dy);
        const KernelRun three = run_kernel(g, 3, x, kernel, recurrent, bias, h0p, c0p, dy);
        expect_near_all(two.y, rows.y, 2e-6, "y");
        expect_near_all(two.h, rows.h, 2e-6, "final h");
        if (cell == RecurrentCell::LSTM) expect_near_all(two.c, rows.c, 2e-6, "final c");
        expect_near_all(two.dx, rows.dx, 2e-5, "dx");
        expect_near_all(two.dkernel, rows.dkernel, 2e-5, "dkernel");
        expect_near_all(two.drecurrent, rows.drecurrent, 2e-5, "drecurrent");
        expect_near_all(two.dbias, rows.dbias, 2e-5, "dbias");
        expect_near_all(two.dh0, rows.dh0, 2e-5, "dh0");
        if (cell == RecurrentCell::LSTM) expect_near_all(two.dc0, rows.dc0, 2e-5, "dc0");
        EXPECT_EQ(three.y, two.y);
        EXPECT_EQ(three.h, two.h);
        EXPECT_EQ(three.c, two.c);
        EXPECT_EQ(three.ws.h_prev, two.ws.h_prev);
        EXPECT_EQ(three.ws.gates, two.ws.gates);
        EXPECT_EQ(three.ws.cell, two.ws.cell);
        expect_near_all(three.drecurrent, rows.drecurrent, 2e-5, "drecurrent of a team of three");
      }
}

// With 16 rows or more a thread, each thread carries its own rows through the whole sequence. The
// values are the one-thread kernel's, with masks and recurrent dropout too.
TEST(RecurrentKernel, ThreadsCarryingTheirOwnRowsGiveTheOneThreadValues) {
  using kernels::RecurrentCell;
  for (RecurrentCell cell : {RecurrentCell::SimpleRNN, RecurrentCell::LSTM, RecurrentCell::GRU})
    for (int variant = 0; variant < 2; ++variant) {
      kernels::RecurrentGeometry g;
      g.cell = cell;
      g.batch = 37;  // 18 and 19 rows on two threads, also when three are allowed (16 or more rows each)
      g.steps = 6;
      g.features = 10;
      g.units = 24;
      g.return_sequences = variant == 0;
      g.go_backwards = variant == 1;
      SCOPED_TRACE(::testing::Message() << "cell " << int(cell) << ", variant " << variant);
      const KernelInputs in = kernel_inputs(g, 3 + variant, 5, 4, 4.f / 3);  // some padded steps in every row
      g.mask = variant == 1 ? in.mask.data() : nullptr;
      const float* recurrent_mask = variant == 1 ? in.dropout.data() : nullptr;
      const KernelRun one =
          run_kernel(g, 1, in.x, in.kernel, in.recurrent, in.bias, nullptr, nullptr, in.dy, recurrent_mask);
      for (int threads : {2, 3}) {
        SCOPED_TRACE(::testing::Message() << threads << " threads");
        const KernelRun many =
            run_kernel(g, threads, in.x, in.kernel, in.recurrent, in.bias, nullptr, nullptr, in.dy, recurrent_mask);
        expect_near_all(many.y, one.y, 1e-6, "y");
        expect_near_all(many.h, one.h, 1e-6, "final h");
        if (cell == RecurrentCell::LSTM) expect_near_all(many.c, one.c, 1e-6, "final c");
        expect_near_all(many.dx, one.dx, 1e-5, "dx");
        expect_near_all(many.drecurrent, one.drecurrent, 1e-5, "drecurrent");
      }
    }
}

namespace {
// 20 rows of 32 units (whole vectors, which block_product needs), 5 steps of 7 features.
kernels::RecurrentGeometry twenty_rows(kernels::RecurrentCell cell) {
  kernels::RecurrentGeometry g;
  g.cell = cell;
  g.batch = 20;
  g.steps = 5;
  g.features = 7;
  g.units = 32;
  return g;
}
}  // namespace

// The forward's step products in register blocks (20 rows on one thread) against sgemm's (each row
// alone, batch 1 on one thread), for every cell, from an initial state so that every step multiplies.
TEST(RecurrentKernel, ForwardInRegisterBlocksMatchesRowsOneByOne) {
  using kernels::RecurrentCell;
  for (RecurrentCell cell : {RecurrentCell::SimpleRNN, RecurrentCell::LSTM, RecurrentCell::GRU}) {
    kernels::RecurrentGeometry g = twenty_rows(cell);
    g.return_sequences = true;
    SCOPED_TRACE(::testing::Message() << "cell " << int(cell));
    const KernelInputs in = kernel_inputs(g, 11, 3, 5, 1.25f);
    const KernelRun all = run_kernel(g, 1, in.x, in.kernel, in.recurrent, in.bias, in.h0.data(), in.c0.data(), in.dy);
    kernels::RecurrentGeometry one = g;
    one.batch = 1;
    const int64_t T = g.steps, F = g.features, U = g.units;
    for (int64_t b = 0; b < g.batch; ++b) {
      auto row = [&](const Floats& v, int64_t per_row) {
        return Floats(v.begin() + b * per_row, v.begin() + (b + 1) * per_row);
      };
      const KernelRun alone = run_kernel(one, 1, row(in.x, T * F), in.kernel, in.recurrent, in.bias,
                                         row(in.h0, U).data(), row(in.c0, U).data(), row(in.dy, T * U));
      expect_near_all(row(all.y, T * U), alone.y, 1e-5, "y");
    }
  }
}

// Backward's d h_{t-1} of each step by block_product on the recurrent kernel's transpose (one thread,
// 20 rows) against sgemm's transposed product (two threads, too few rows for each to carry its own),
// for every cell, with and without masks and recurrent dropout (where the product adds to dh).
TEST(RecurrentKernel, BackwardInRegisterBlocksMatchesTheGemmPath) {
  using kernels::RecurrentCell;
  for (RecurrentCell cell : {RecurrentCell::SimpleRNN, RecurrentCell::LSTM, RecurrentCell::GRU})
    for (int variant = 0; variant < 2; ++variant) {
      kernels::RecurrentGeometry g = twenty_rows(cell);
      g.return_sequences = variant == 0;
      SCOPED_TRACE(::testing::Message() << "cell " << int(cell) << ", variant " << variant);
      const KernelInputs in = kernel_inputs(g, 5 + variant, 3, 5, 1.25f);
      g.mask = variant == 1 ? in.mask.data() : nullptr;
      const float* recurrent_mask = variant == 1 ? in.dropout.data() : nullptr;
      auto run = [&](int threads) {
        return run_kernel(g, threads, in.x, in.kernel, in.recurrent, in.bias, in.h0.data(), in.c0.data(), in.dy,
                          recurrent_mask);
      };
      const KernelRun blocks = run(1), sgemm = run(2);
      expect_near_all(blocks.y, sgemm.y, 1e-5, "y");
      expect_near_all(blocks.dh0, sgemm.dh0, 1e-4, "dh0");
      if (cell == RecurrentCell::LSTM) expect_near_all(blocks.dc0, sgemm.dc0, 1e-4, "dc0");
      expect_near_all(blocks.dx, sgemm.dx, 1e-4, "dx");
      expect_near_all(blocks.drecurrent, sgemm.drecurrent, 1e-4, "drecurrent");
      expect_near_all(blocks.dkernel, sgemm.dkernel, 1e-4, "dkernel");
    }
}

// ---- Against PyTorch --------------------------------------------------------------------------------

namespace {

using myelin::test::expect_close;

class PyTorchRecurrent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new test::TorchReference("recurrent_reference.py"); }
  static void TearDownTestSuite() {
    delete ref_;
    ref_ = nullptr;
  }
  void SetUp() override {
    if (!ref_->skip_reason().empty()) GTEST_SKIP() << ref_->skip_reason();
    ASSERT_EQ(ref_->error(), "");
  }
  static inline test::TorchReference* ref_ = nullptr;
};

struct TorchCase {
  const char* file;
  const char* cls;
  int64_t units;
  bool return_sequences, go_backwards, use_bias;
  const char* activation;
};

TEST_F(PyTorchRecurrent, ForwardAndGradientsMatchTorch) {
  const TorchCase cases[] = {
      {"rnn_last", "SimpleRNN", 6, false, false, true, "tanh"},
      {"rnn_sequences_backwards_relu", "SimpleRNN", 5, true, true, true, "relu"},
      {"lstm_sequences", "LSTM", 4, true, false, true, "tanh"},
      {"lstm_last_backwards", "LSTM", 6, false, true, true, "tanh"},
      {"lstm_no_bias_one_step", "LSTM", 3, true, false, false, "tanh"},
      {"gru_sequences", "GRU", 5, true, false, true, "tanh"},
      {"gru_last_backwards", "GRU", 4, false, true, true, "tanh"},
      {"gru_many_units", "GRU", 33, true, true, true, "tanh"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const auto ref = ref_->load(c.file);
    ASSERT_FALSE(ref.empty());
    const Tensor x = ref.at("x").to_tensor();
    auto layer = make_recurrent(c.cls, c.units,
                      {.activation = c.activation, .use_bias = c.use_bias, .return_sequences = c.return_sequences,
                       .go_backwards = c.go_backwards});
    Rng rng(0);
    layer->build({x.dim(1), x.dim(2)}, rng);
    layer->kernel().copy_from(ref.at("kernel").to_tensor());
    layer->recurrent_kernel().copy_from(ref.at("recurrent_kernel").to_tensor());
    if (c.use_bias) layer->bias().copy_from(ref.at("bias").to_tensor());
    expect_close(layer->forward(x, true), ref.at("y"), "output");
    expect_close(layer->backward(ref.at("w").to_tensor()), ref.at("dx"), "input gradient");
    auto p = layer->params();
    expect_close(*p[0].grad, ref.at("dkernel"), "kernel gradient");
    expect_close(*p[1].grad, ref.at("drecurrent_kernel"), "recurrent kernel gradient");
    if (c.use_bias) expect_close(*p[2].grad, ref.at("dbias"), "bias gradient");
  }
}

// Bidirectional against torch's bidirectional=True modules.
TEST_F(PyTorchRecurrent, BidirectionalMatchesTorch) {
  struct Case {
    const char* file;
    const char* cls;
    int64_t units;
    bool return_sequences;
    const char* mode;
  };
  const Case cases[] = {
      {"bi_lstm_concat_sequences", "LSTM", 4, true, "concat"},
      {"bi_gru_sum_last", "GRU", 5, false, "sum"},
      {"bi_rnn_mul_sequences", "SimpleRNN", 3, true, "mul"},
      {"bi_lstm_ave_last", "LSTM", 3, false, "ave"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const auto ref = ref_->load(c.file);
    ASSERT_FALSE(ref.empty());
    const Tensor x = ref.at("x").to_tensor();
    Bidirectional bi(make_recurrent(c.cls, c.units, {.return_sequences = c.return_sequences}), c.mode);
    Rng rng(0);
    bi.build({x.dim(1), x.dim(2)}, rng);
    for (const std::string d : {"forward", "backward"}) {
      Recurrent& l = d == "forward" ? bi.forward_layer() : bi.backward_layer();
      l.kernel().copy_from(ref.at(d + "/kernel").to_tensor());
      l.recurrent_kernel().copy_from(ref.at(d + "/recurrent_kernel").to_tensor());
      l.bias().copy_from(ref.at(d + "/bias").to_tensor());
    }
    expect_close(bi.forward(x, true), ref.at("y"), "output");
    expect_close(bi.backward(ref.at("w").to_tensor()), ref.at("dx"), "input gradient");
    const auto p = bi.params();
    ASSERT_EQ(p.size(), 6u);
    const char* names[] = {"dforward/kernel", "dforward/recurrent_kernel", "dforward/bias",
                           "dbackward/kernel", "dbackward/recurrent_kernel", "dbackward/bias"};
    for (size_t i = 0; i < 6; ++i) expect_close(*p[i].grad, ref.at(names[i]), names[i]);
  }
}

}  // namespace

// ---- Models, files and errors -------------------------------------------------------------------------

TEST(Recurrent, StackedModelSavesAndReloads) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_recurrent_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  set_random_seed(5);
  Sequential m({LSTM(4, {.input_shape = Shape{6, 3}, .return_sequences = true}),
                GRU(3, {.return_sequences = true, .go_backwards = true}),
                SimpleRNN(2, {.activation = "relu", .use_bias = false}), Dense(1)});
  m.compile(optimizers::Adam(0.01), "mse");
  Tensor x({8, 6, 3}), y({8, 1});
  Rng r(1);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(-1, 1);
  for (int64_t i = 0; i < y.size(); ++i) y[i] = r.uniform(-1, 1);
  m.fit(x, y, {.epochs = 2, .batch_size = 4, .verbose = 0});
  const std::string file = (dir / "m.safetensors").string();
  m.save(file);
  Sequential loaded = load_model(file);
  fs::remove_all(dir);
  EXPECT_EQ(loaded.to_json(), m.to_json());
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());

  // Keras 3's names for the weights and the config.
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  for (const auto& p : loaded.weights()) {
    names.push_back(p.name);
    shapes.push_back(p.value->shape());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"lstm/kernel", "lstm/recurrent_kernel", "lstm/bias", "gru/kernel",
                                             "gru/recurrent_kernel", "gru/bias", "simple_rnn/kernel",
                                             "simple_rnn/recurrent_kernel", "dense/kernel", "dense/bias"}));
  EXPECT_EQ(shapes[0], (Shape{3, 16}));
  EXPECT_EQ(shapes[1], (Shape{4, 16}));
  EXPECT_EQ(shapes[5], (Shape{2, 9}));
  const auto lstm = loaded.layers()[0]->get_config();
  EXPECT_EQ(lstm["units"], 4);
  EXPECT_EQ(lstm["recurrent_activation"], "sigmoid");
  EXPECT_EQ(lstm["unit_forget_bias"], true);
  EXPECT_EQ(lstm["return_sequences"], true);
  EXPECT_EQ(lstm["recurrent_initializer"]["class_name"], "Orthogonal");
  EXPECT_EQ(loaded.layers()[1]->get_config()["reset_after"], true);
  EXPECT_EQ(loaded.layers()[1]->get_config()["go_backwards"], true);
  EXPECT_EQ(loaded.layers()[2]->get_config()["activation"], "relu");
}

// A frozen recurrent layer keeps its weights through fit and still passes d(input) to the layers below.
TEST(Recurrent, FrozenLayerKeepsItsWeightsAndPassesGradients) {
  set_random_seed(3);
  auto frozen_gru = std::make_shared<GRU>(3, RecurrentOptions{.return_sequences = true});
  auto frozen_bi = std::make_shared<Bidirectional>(std::make_shared<SimpleRNN>(2));
  frozen_gru->set_trainable(false);
  frozen_bi->set_trainable(false);
  Sequential m({LSTM(4, {.input_shape = Shape{5, 2}, .return_sequences = true}), frozen_gru, frozen_bi, Dense(1)});
  m.compile(optimizers::SGD(0.1), "mse");
  Tensor x({6, 5, 2}), y({6, 1});
  Rng r(2);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.uniform(-1, 1);
  for (int64_t i = 0; i < y.size(); ++i) y[i] = r.uniform(-1, 1);
  const std::vector<Tensor> before = m.get_weights();
  m.fit(x, y, {.epochs = 3, .batch_size = 3, .verbose = 0});
  const std::vector<Tensor> after = m.get_weights();
  const auto weights = m.weights();
  ASSERT_EQ(weights.size(), 14u);  // lstm 3, gru 3, bidirectional 2 x 3, dense 2
  for (size_t i = 0; i < weights.size(); ++i) {
    const bool frozen = weights[i].name.rfind("gru/", 0) == 0 || weights[i].name.rfind("bidirectional/", 0) == 0;
    EXPECT_EQ(frozen, !weights[i].trainable) << weights[i].name;
    if (frozen)
      EXPECT_EQ(after[i].to_vector(), before[i].to_vector()) << weights[i].name;
    else
      EXPECT_NE(after[i].to_vector(), before[i].to_vector()) << weights[i].name;
  }
}

// A config as Keras 3 writes it loads (its extra keys included).
TEST(Recurrent, KerasConfigLoads) {
  const nlohmann::json config = {
      {"name", "lstm_7"}, {"trainable", true}, {"dtype", "float32"}, {"return_sequences", false},
      {"return_state", false}, {"go_backwards", false}, {"stateful", false}, {"unroll", false},
      {"zero_output_for_mask", false}, {"units", 8}, {"activation", "tanh"}, {"recurrent_activation", "sigmoid"},
      {"use_bias", true},
      {"kernel_initializer", {{"module", "keras.initializers"}, {"class_name", "GlorotUniform"}, {"config", {{"seed", nullptr}}}}},
      {"recurrent_initializer", {{"module", "keras.initializers"}, {"class_name", "Orthogonal"}, {"config", {{"gain", 1.0}, {"seed", nullptr}}}}},
      {"bias_initializer", {{"module", "keras.initializers"}, {"class_name", "Zeros"}, {"config", nlohmann::json::object()}}},
      {"unit_forget_bias", true}, {"kernel_regularizer", nullptr}, {"recurrent_regularizer", nullptr},
      {"bias_regularizer", nullptr}, {"activity_regularizer", nullptr}, {"kernel_constraint", nullptr},
      {"recurrent_constraint", nullptr}, {"bias_constraint", nullptr}, {"dropout", 0.0},
      {"recurrent_dropout", 0.0}, {"seed", nullptr}};
  auto layer = from_config("LSTM", config);
  EXPECT_EQ(layer->class_name(), "LSTM");
  EXPECT_EQ(layer->name(), "lstm_7");
  Rng rng(0);
  EXPECT_EQ(layer->build({5, 2}, rng), (Shape{8}));
  EXPECT_EQ(layer->count_params(), 2 * 32 + 8 * 32 + 32);
}

TEST(Recurrent, ErrorsNameTheLayerAndTheProblem) {
  Rng rng(0);
  expect_error<ShapeError>([&] { LSTM l(4, {.name = "enc"}); l.build({5}, rng); }, {"LSTM", "enc", "(steps, features)", "(5,)"});
  expect_error<ShapeError>([&] { GRU l(4); l.build({2, 3, 4}, rng); }, {"GRU", "(2, 3, 4)"});
  expect_error<ValueError>([] { SimpleRNN(0); }, {"SimpleRNN", "units"});
  expect_error<ValueError>([] { LSTM(3, {.dropout = 1.f}); }, {"LSTM", "dropout", "[0, 1)"});
  expect_error<ValueError>([] { GRU(3, {.recurrent_dropout = -0.1f}); }, {"GRU", "recurrent_dropout"});
  expect_error<ValueError>([] { GRU(3, {.reset_after = false}); }, {"GRU", "reset_after"});
  expect_error<ValueError>([] { SimpleRNN(3, {.activation = "softmax"}); }, {"SimpleRNN", "activation", "softmax"});
  expect_error<ValueError>([] { LSTM(3, {.recurrent_activation = "gelu"}); }, {"LSTM", "recurrent_activation", "gelu"});
  expect_error<ValueError>([&] { LSTM(3, {.kernel_initializer = "nonsense"}).build({2, 2}, rng); },
                           {"nonsense"});
  expect_error<ValueError>([] { from_config("LSTM", {{"name", "l"}, {"units", 3}, {"stateful", true}}); },
                           {"LSTM 'l'", "stateful"});
  expect_error<ValueError>([] { from_config("GRU", {{"name", "g"}}); }, {"GRU 'g'", "units"});
  {
    SimpleRNN l(2, {.name = "rnn"});
    l.build({3, 4}, rng);
    expect_error<ShapeError>([&] { l.forward(Tensor({2, 3, 5}), false); }, {"SimpleRNN", "rnn", "(2, 3, 5)"});
    l.forward(Tensor({2, 3, 4}), true);
    expect_error<ShapeError>([&] { l.backward(Tensor({2, 3, 2})); }, {"SimpleRNN", "rnn", "(2, 3, 2)", "(2, 2)"});
  }
  // A model checks its input against the layer's (steps, features) before running.
  Sequential m({GRU(2, {.input_shape = Shape{4, 3}})});
  m.compile(optimizers::SGD(0.1), "mse");
  expect_error<ShapeError>([&] { m.predict(Tensor({2, 4, 2})); }, {"(2, 4, 2)", "(None, 4, 3)"});
}

// ---- Bidirectional -------------------------------------------------------------------------------------

// The merge of the two directions, worked from the wrapped layers' own outputs: with sequences, the
// backward layer's steps come back in the input's time order.
TEST(Bidirectional, MergesBothDirectionsAlignedInTime) {
  Rng rng(4);
  const Tensor x = random_tensor({2, 5, 3}, rng, -1, 1);
  for (const char* mode : {"concat", "sum", "mul", "ave"}) {
    SCOPED_TRACE(mode);
    Bidirectional bi(GRU(4, {.return_sequences = true}), mode);
    bi.build({5, 3}, rng);
    const Tensor y = bi.forward(x, false).clone();
    const Tensor f = bi.forward_layer().forward(x, false).clone();
    const Tensor b = bi.backward_layer().forward(x, false).clone();
    const bool concat = std::string(mode) == "concat";
    ASSERT_EQ(y.shape(), (Shape{2, 5, concat ? 8 : 4}));
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t t = 0; t < 5; ++t)
        for (int64_t j = 0; j < 4; ++j) {
          const float fv = f[(n * 5 + t) * 4 + j], bv = b[(n * 5 + (4 - t)) * 4 + j];
          if (concat) {
            EXPECT_EQ(y[(n * 5 + t) * 8 + j], fv);
            EXPECT_EQ(y[(n * 5 + t) * 8 + 4 + j], bv);
          } else {
            const float want = std::string(mode) == "sum" ? fv + bv : std::string(mode) == "mul" ? fv * bv : 0.5f * (fv + bv);
            EXPECT_FLOAT_EQ(y[(n * 5 + t) * 4 + j], want);
          }
        }
  }
}

TEST(Bidirectional, GradientsMatchFiniteDifferences) {
  struct Case {
    const char* cls;
    const char* mode;
    bool return_sequences;
  };
  for (const Case c : {Case{"LSTM", "concat", true}, Case{"GRU", "sum", false}, Case{"SimpleRNN", "mul", true},
                       Case{"LSTM", "ave", false}, Case{"GRU", "mul", false}}) {
    SCOPED_TRACE(std::string(c.cls) + " " + c.mode + (c.return_sequences ? " sequences" : " last"));
    Rng rng(8);
    Bidirectional bi(make_recurrent(c.cls, 3, {.return_sequences = c.return_sequences}), c.mode);
    const Shape out = bi.build({4, 2}, rng);
    for (auto& p : bi.params())
      for (int64_t i = 0; i < p.value->size(); ++i) (*p.value)[i] = rng.uniform(-0.8f, 0.8f);
    Tensor x = random_tensor({2, 4, 2}, rng, -1, 1);
    const Tensor w = random_tensor(with_batch(2, out), rng, -1, 1);
    auto loss = [&] { return weighted_sum(bi.forward(x, true), w); };
    const Tensor num_x = numerical_gradient(loss, x, 1e-2);
    std::vector<Tensor> num_w;
    for (auto& p : bi.params()) num_w.push_back(numerical_gradient(loss, *p.value, 1e-2));
    bi.forward(x, true);
    EXPECT_TRUE(gradients_close(bi.backward(w), num_x, 1e-3, 1e-2)) << "input";
    auto params = bi.params();
    ASSERT_EQ(params.size(), 6u);
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(gradients_close(*params[i].grad, num_w[i], 1e-3, 1e-2)) << params[i].name;
  }
}

TEST(Bidirectional, KerasNamesAndSaveLoad) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_bidirectional_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  set_random_seed(6);
  Sequential m({Bidirectional(LSTM(3, {.input_shape = Shape{5, 2}, .return_sequences = true})),
                Bidirectional(GRU(2), "ave"), Dense(1)});
  m.build();
  std::vector<std::string> names;
  for (const auto& p : m.weights()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "bidirectional/forward_lstm/kernel", "bidirectional/forward_lstm/recurrent_kernel",
                       "bidirectional/forward_lstm/bias", "bidirectional/backward_lstm/kernel",
                       "bidirectional/backward_lstm/recurrent_kernel", "bidirectional/backward_lstm/bias",
                       "bidirectional_1/forward_gru/kernel", "bidirectional_1/forward_gru/recurrent_kernel",
                       "bidirectional_1/forward_gru/bias", "bidirectional_1/backward_gru/kernel",
                       "bidirectional_1/backward_gru/recurrent_kernel", "bidirectional_1/backward_gru/bias",
                       "dense/kernel", "dense/bias"}));
  EXPECT_EQ(m.weights()[6].value->shape(), (Shape{6, 6}));  // the concatenated 2 * 3 features
  const auto config = m.layers()[0]->get_config();
  EXPECT_EQ(config["merge_mode"], "concat");
  EXPECT_EQ(config["layer"]["class_name"], "LSTM");
  EXPECT_EQ(config["layer"]["config"]["name"], "forward_lstm");
  EXPECT_EQ(config["backward_layer"]["config"]["go_backwards"], true);
  const std::string file = (dir / "m.safetensors").string();
  m.save(file);
  Sequential loaded = load_model(file);
  fs::remove_all(dir);
  EXPECT_EQ(loaded.to_json(), m.to_json());
  Rng r(3);
  const Tensor x = random_tensor({3, 5, 2}, r, -1, 1);
  EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());
}

TEST(Bidirectional, Errors) {
  expect_error<ValueError>([] { Bidirectional(LSTM(2), "max"); }, {"Bidirectional", "merge_mode", "max"});
  expect_error<ValueError>(
      [] { Bidirectional(std::make_shared<LSTM>(2), "concat", std::make_shared<GRU>(2, RecurrentOptions{.go_backwards = true})); },
      {"Bidirectional", "backward_layer", "LSTM"});
  expect_error<ValueError>(
      [] { from_config("Bidirectional", {{"name", "bi"}, {"layer", {{"class_name", "Dense"}, {"config", {{"units", 2}}}}}}); },
      {"Bidirectional 'bi'", "Dense"});
  expect_error<ValueError>(
      [] { from_config("Bidirectional", {{"name", "bi"}, {"merge_mode", nullptr}, {"layer", {{"class_name", "GRU"}, {"config", {{"units", 2}}}}}}); },
      {"merge_mode None"});
  Rng rng(0);
  expect_error<ShapeError>([&] { Bidirectional(SimpleRNN(2)).build({3}, rng); }, {"SimpleRNN", "(3,)"});
}
