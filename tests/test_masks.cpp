// Keras's masks: Embedding(mask_zero) and Masking mark padded steps, the graph carries the mask, and
// recurrent layers, Bidirectional, GlobalAveragePooling1D, MultiHeadAttention and Attention follow
// it. Forward cases worked out by hand, gradients against central finite differences, masked
// batches of unequal lengths against PyTorch's packed sequences and key_padding_mask
// (tests/pytorch/mask_reference.py), models whose predictions ignore padding, and save/load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "recurrent_layers.hpp"
#include "myelin/error.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/layers/attention.hpp"
#include "myelin/layers/bidirectional.hpp"
#include "myelin/layers/conv1d.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/embedding.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/masking.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/multi_head_attention.hpp"
#include "myelin/layers/pooling1d.hpp"
#include "myelin/layers/recurrent.hpp"
#include "myelin/layers/registry.hpp"
#include "myelin/layers/symbolic_tensor.hpp"
#include "myelin/model.hpp"
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

void randomize(Recurrent& l, Rng& rng) {
  for (Tensor* t : {&l.kernel(), &l.recurrent_kernel()})
    for (int64_t i = 0; i < t->size(); ++i) (*t)[i] = rng.uniform(-0.9f, 0.9f);
  for (int64_t i = 0; i < l.bias().size(); ++i) l.bias()[i] = rng.uniform(-0.5f, 0.5f);
}

// Three samples of 5 steps: full, trailing padding, and padding inside and at both ends.
Tensor test_mask() { return Tensor({3, 5}, {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0}); }

}  // namespace

TEST(Masks, MaskingForwardAndBackwardByHand) {
  Masking m(-1.f);
  Rng rng(0);
  EXPECT_EQ(m.build({3, 2}, rng), (Shape{3, 2}));
  const Tensor x({1, 3, 2}, {1, 2, -1, -1, -1, 0});
  const Tensor y = m.forward(x, true).clone();
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 0, 0, -1, 0}));  // step 1 is all -1: zeroed
  ASSERT_NE(m.output_mask(), nullptr);
  EXPECT_EQ(m.output_mask()->shape(), (Shape{1, 3}));
  EXPECT_EQ(m.output_mask()->to_vector(), (std::vector<float>{1, 0, 1}));  // step 2 has a 0, not padding
  const Tensor dy({1, 3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(m.backward(dy).to_vector(), (std::vector<float>{1, 2, 0, 0, 5, 6}));
  // Finite differences away from mask_value (where the mask itself would flip).
  Tensor xs = random_tensor({2, 3, 2}, rng, 0.5f, 1.f);
  xs[2] = xs[3] = -1.f;  // sample 0, step 1 is padding
  const Tensor w = random_tensor({2, 3, 2}, rng, -1, 1);
  auto loss = [&] { return weighted_sum(m.forward(xs, true), w); };
  Tensor numeric = numerical_gradient(loss, xs, 1e-3);
  // Perturbed, the padded step stops being padding: its gradient is 0 by definition, as in Keras.
  numeric[2] = numeric[3] = 0.f;
  m.forward(xs, true);
  EXPECT_TRUE(gradients_close(m.backward(w), numeric, 1e-3, 1e-2));
}

TEST(Masks, EmbeddingMaskZeroMarksIdZero) {
  Embedding e(4, 2, {.mask_zero = true});
  Rng rng(0);
  e.build({3}, rng);
  EXPECT_EQ(e.mask_flow(), Layer::MaskFlow::Own);
  const Tensor ids({2, 3}, {1, 0, 2, 0, 0, 3});
  const Tensor y = e.forward(ids, false).clone();
  ASSERT_NE(e.output_mask(), nullptr);
  EXPECT_EQ(e.output_mask()->to_vector(), (std::vector<float>{1, 0, 1, 0, 0, 1}));
  // Id 0 still reads its row (Keras does the same): the mask, not the vector, marks padding.
  for (int k = 0; k < 2; ++k) EXPECT_EQ(y[2 + k], e.embeddings()[k]);
  EXPECT_EQ(Embedding(4, 2).mask_flow(), Layer::MaskFlow::Drop);
  expect_error<ShapeError>([&] { Embedding(4, 2, {.mask_zero = true}).build({3, 2}, rng); },
                           {"Embedding", "mask_zero", "(batch, steps)"});
}

TEST(Masks, GlobalAveragePoolingAveragesUnmaskedStepsByHand) {
  GlobalAveragePooling1D pool;
  Rng rng(0);
  pool.build({3, 2}, rng);
  const Tensor x({2, 3, 2}, {1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60});
  const Tensor mask({2, 3}, {1, 1, 0, 0, 0, 0});
  pool.set_input_masks({&mask});
  const Tensor y = pool.forward(x, true).clone();
  // Sample 0: the mean of steps 0 and 1; sample 1 has no data step: 0 (Keras divides 0 by 0).
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1.5f, 15.f, 0.f, 0.f}));
  const Tensor dy({2, 2}, {2, 4, 1, 1});
  EXPECT_EQ(pool.backward(dy).to_vector(), (std::vector<float>{1, 2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0}));
  // Finite differences on a random mask.
  Tensor xs = random_tensor({3, 5, 2}, rng, -1, 1);
  const Tensor m = test_mask();
  pool.build({5, 2}, rng);
  pool.set_input_masks({&m});
  const Tensor w = random_tensor({3, 2}, rng, -1, 1);
  auto loss = [&] { return weighted_sum(pool.forward(xs, true), w); };
  const Tensor numeric = numerical_gradient(loss, xs, 1e-2);
  pool.forward(xs, true);
  EXPECT_TRUE(gradients_close(pool.backward(w), numeric, 1e-3, 1e-2));
  // Without a mask, every step counts again.
  pool.clear_input_masks();
  pool.build({3, 2}, rng);
  EXPECT_EQ(pool.forward(x, true).to_vector(), (std::vector<float>{2.f, 20.f, 5.f, 50.f}));
}

// At a masked step the state stays: a sample padded inside gives the state of the same sequence
// with the padded steps removed, and the returned sequence repeats the previous output there.
TEST(Masks, RecurrentSkipsMaskedStepsByConstruction) {
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"})
    for (bool back : {false, true}) {
      SCOPED_TRACE(std::string(cls) + (back ? " backwards" : ""));
      Rng rng(5);
      auto full = make_recurrent(cls, 3, {.return_sequences = true, .go_backwards = back, .return_state = true});
      full->build({5, 2}, rng);
      randomize(*full, rng);
      auto packed = make_recurrent(cls, 3, {.go_backwards = back, .return_state = true});
      packed->build({2, 2}, rng);
      for (size_t k = 0; k < 3; ++k) packed->params()[k].value->copy_from(*full->params()[k].value);
      // Sample with data at steps 1 and 3 only.
      Tensor x = random_tensor({1, 5, 2}, rng, -1, 1);
      const Tensor mask({1, 5}, {0, 1, 0, 1, 0});
      full->set_input_masks({&mask});
      const Tensor y = full->forward(x, false).clone();
      const Tensor h = full->extra_output(1).clone();
      Tensor short_x({1, 2, 2}, {x[2], x[3], x[6], x[7]});
      packed->forward(short_x, false);
      const Tensor h_ref = packed->extra_output(1).clone();
      for (int j = 0; j < 3; ++j) EXPECT_NEAR(h[j], h_ref[j], 1e-6);
      // Step order: s = 0..4 reads times 0..4 (backwards 4..0). Masked steps repeat the output
      // before them, zeros before any data step.
      // Either way the data steps are steps 1 and 3 (times 1 and 3, or 3 and 1 backwards).
      for (int j = 0; j < 3; ++j) {
        EXPECT_EQ(y[0 * 3 + j], 0.f);
        EXPECT_EQ(y[2 * 3 + j], y[1 * 3 + j]);
        EXPECT_EQ(y[4 * 3 + j], y[3 * 3 + j]);
        EXPECT_NEAR(y[3 * 3 + j], h[j], 1e-7);
      }
      // zero_output_for_mask: zeros there instead.
      full->set_zero_output_for_mask(true);
      const Tensor z = full->forward(x, false).clone();
      for (int j = 0; j < 3; ++j) {
        EXPECT_EQ(z[2 * 3 + j], 0.f);
        EXPECT_EQ(z[4 * 3 + j], 0.f);
        EXPECT_EQ(z[3 * 3 + j], y[3 * 3 + j]);
      }
    }
}

// Every output weighted (sequence or last, h, c), masks with padding inside and at the ends.
TEST(Masks, RecurrentGradientsMatchFiniteDifferences) {
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"})
    for (bool seq : {false, true})
      for (bool back : {false, true})
        for (bool zero : {false, true}) {
          if (zero && !seq) continue;
          SCOPED_TRACE(std::string(cls) + (seq ? " sequences" : " last") + (back ? " backwards" : "") +
                       (zero ? " zero_output_for_mask" : ""));
          Rng rng(11);
          auto layer = make_recurrent(cls, 3, {.return_sequences = seq, .go_backwards = back, .return_state = true,
                                     .zero_output_for_mask = zero});
          const Shape out = layer->build({5, 2}, rng);
          randomize(*layer, rng);
          const Tensor mask = test_mask();
          Tensor x = random_tensor({3, 5, 2}, rng, -1, 1);
          const int states = layer->num_states();
          std::vector<Tensor> ws{random_tensor(with_batch(3, out), rng, -1, 1)};
          for (int k = 0; k < states; ++k) ws.push_back(random_tensor({3, 3}, rng, -1, 1));
          layer->set_input_masks({&mask});
          auto loss = [&] {
            double s = weighted_sum(layer->forward(x, true), ws[0]);
            for (int k = 1; k <= states; ++k) s += weighted_sum(layer->extra_output(k), ws[size_t(k)]);
            return s;
          };
          const Tensor num_x = numerical_gradient(loss, x, 1e-2);
          const Tensor num_k = numerical_gradient(loss, layer->kernel(), 1e-2);
          const Tensor num_r = numerical_gradient(loss, layer->recurrent_kernel(), 1e-2);
          const Tensor num_b = numerical_gradient(loss, layer->bias(), 1e-2);
          layer->forward(x, true);
          std::vector<const Tensor*> out_grads, in_grads{nullptr};
          for (auto& w : ws) out_grads.push_back(&w);
          layer->backward_outputs(out_grads, in_grads);
          ASSERT_NE(in_grads[0], nullptr);
          EXPECT_TRUE(gradients_close(*in_grads[0], num_x, 1e-3, 1e-2)) << "x";
          auto params = layer->params();
          EXPECT_TRUE(gradients_close(*params[0].grad, num_k, 1e-3, 1e-2)) << "kernel";
          EXPECT_TRUE(gradients_close(*params[1].grad, num_r, 1e-3, 1e-2)) << "recurrent_kernel";
          EXPECT_TRUE(gradients_close(*params[2].grad, num_b, 1e-3, 1e-2)) << "bias";
          // Inputs at masked steps are never read.
          for (int64_t b = 0; b < 3; ++b)
            for (int64_t t = 0; t < 5; ++t) {
              if (mask[b * 5 + t] != 0.f) continue;
              for (int64_t f = 0; f < 2; ++f) EXPECT_EQ((*in_grads[0])[(b * 5 + t) * 2 + f], 0.f);
            }
        }
}

// Recurrent dropout reads the state through its mask; a masked step carries the state as it was.
// Reseeding before every forward draws the same dropout masks, so finite differences apply.
TEST(Masks, RecurrentDropoutWithMasksMatchesFiniteDifferences) {
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"}) {
    SCOPED_TRACE(cls);
    Rng rng(19);
    auto layer = make_recurrent(cls, 3, {.return_sequences = true, .recurrent_dropout = 0.4f, .return_state = true});
    layer->build({5, 2}, rng);
    randomize(*layer, rng);
    const Tensor mask = test_mask();
    Tensor x = random_tensor({3, 5, 2}, rng, -1, 1);
    const Tensor w = random_tensor({3, 5, 3}, rng, -1, 1), wh = random_tensor({3, 3}, rng, -1, 1);
    layer->set_input_masks({&mask});
    auto run = [&] {
      Rng same(23);
      layer->reseed(same);
      return &layer->forward(x, true);
    };
    auto loss = [&] { return weighted_sum(*run(), w) + weighted_sum(layer->extra_output(1), wh); };
    const Tensor num_x = numerical_gradient(loss, x, 1e-2);
    const Tensor num_r = numerical_gradient(loss, layer->recurrent_kernel(), 1e-2);
    const Tensor y = run()->clone();
    // Sample 1's steps 3 and 4 are padding: its final state is its output at step 2, undropped.
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(layer->extra_output(1)[3 + j], y[(1 * 5 + 2) * 3 + j]);
    std::vector<const Tensor*> out_grads{&w, &wh}, in_grads{nullptr};
    if (layer->num_outputs() == 3) out_grads.push_back(nullptr);
    layer->backward_outputs(out_grads, in_grads);
    EXPECT_TRUE(gradients_close(*in_grads[0], num_x, 1e-3, 1e-2)) << "x";
    EXPECT_TRUE(gradients_close(*layer->params()[1].grad, num_r, 1e-3, 1e-2)) << "recurrent_kernel";
  }
}

TEST(Masks, BidirectionalGradientsMatchFiniteDifferences) {
  for (const char* cls : {"LSTM", "GRU"})
    for (bool seq : {false, true}) {
      SCOPED_TRACE(std::string(cls) + (seq ? " sequences" : " last"));
      Rng rng(13);
      Bidirectional bi(make_recurrent(cls, 2, {.return_sequences = seq}));
      const Shape out = bi.build({5, 2}, rng);
      for (auto& p : bi.params())
        for (int64_t i = 0; i < p.value->size(); ++i) (*p.value)[i] = rng.uniform(-0.8f, 0.8f);
      const Tensor mask = test_mask();
      Tensor x = random_tensor({3, 5, 2}, rng, -1, 1);
      const Tensor w = random_tensor(with_batch(3, out), rng, -1, 1);
      bi.set_input_masks({&mask});
      auto loss = [&] { return weighted_sum(bi.forward(x, true), w); };
      const Tensor num_x = numerical_gradient(loss, x, 1e-2);
      auto params = bi.params();
      const Tensor num_r = numerical_gradient(loss, *params[4].value, 1e-2);  // backward_*/recurrent_kernel
      bi.forward(x, true);
      EXPECT_TRUE(gradients_close(bi.backward(w), num_x, 1e-3, 1e-2)) << "x";
      EXPECT_TRUE(gradients_close(*bi.params()[4].grad, num_r, 1e-3, 1e-2)) << params[4].name;
      if (seq) {  // Keras: zeros at masked steps in both directions
        const Tensor y = bi.forward(x, false).clone();
        for (int64_t b = 0; b < 3; ++b)
          for (int64_t t = 0; t < 5; ++t) {
            if (mask[b * 5 + t] != 0.f) continue;
            for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(y[(b * 5 + t) * 4 + j], 0.f);
          }
      }
    }
}

TEST(Masks, MultiHeadAttentionGradientsMatchFiniteDifferences) {
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "plain");
    Rng rng(17);
    MultiHeadAttention mha(2, 3, {.use_causal_mask = causal});
    mha.build_inputs({{5, 4}, {5, 4}}, rng);
    const Tensor mask = test_mask();
    Tensor q = random_tensor({3, 5, 4}, rng, -1, 1), v = random_tensor({3, 5, 4}, rng, -1, 1);
    const Tensor w = random_tensor({3, 5, 4}, rng, -1, 1);
    const Tensor ones({3, 5}, std::vector<float>(15, 1.f));
    mha.set_input_masks({&ones, &mask});  // padded value (and key) steps
    std::vector<const Tensor*> in{&q, &v};
    auto loss = [&] { return weighted_sum(mha.forward_inputs(in, true), w); };
    const Tensor num_q = numerical_gradient(loss, q, 1e-2);
    const Tensor num_v = numerical_gradient(loss, v, 1e-2);
    mha.forward_inputs(in, true);
    std::vector<const Tensor*> grads(2);
    mha.backward_inputs(w, grads);
    EXPECT_TRUE(gradients_close(*grads[0], num_q, 1e-3, 1e-2)) << "query";
    EXPECT_TRUE(gradients_close(*grads[1], num_v, 1e-3, 1e-2)) << "value";
    // A padded value step gets no attention and so no gradient (with the causal mask, a query step
    // that sees only padding attends uniformly to every step, as Keras's: not checked there).
    for (int64_t b = 0; !causal && b < 3; ++b)
      for (int64_t t = 0; t < 5; ++t) {
        if (mask[b * 5 + t] != 0.f) continue;
        for (int64_t f = 0; f < 4; ++f) EXPECT_EQ((*grads[1])[(b * 5 + t) * 4 + f], 0.f);
      }
  }
}

// Attention: the value's mask hides padded steps; the output is 0 at padded query steps.
TEST(Masks, AttentionByHandAndFiniteDifferences) {
  Attention att;
  Rng rng(0);
  att.build_inputs({{2, 1}, {3, 1}}, rng);
  const Tensor q({1, 2, 1}, {1, 2}), v({1, 3, 1}, {1, 2, 3});
  const Tensor qm({1, 2}, {1, 0}), vm({1, 3}, {1, 1, 0});
  att.set_input_masks({&qm, &vm});
  const Tensor y = att.forward_inputs({&q, &v}, false).clone();
  const double e = std::exp(1.0);
  EXPECT_NEAR(y[0], (e * 1 + e * e * 2) / (e + e * e), 1e-5);  // scores 1, 2 (step 2 hidden)
  EXPECT_EQ(y[1], 0.f);
  Tensor qs = random_tensor({3, 5, 2}, rng, -1, 1), vs = random_tensor({3, 5, 2}, rng, -1, 1);
  Attention a2;
  a2.build_inputs({{5, 2}, {5, 2}}, rng);
  const Tensor m = test_mask();
  a2.set_input_masks({&m, &m});
  const Tensor w = random_tensor({3, 5, 2}, rng, -1, 1);
  std::vector<const Tensor*> in{&qs, &vs};
  auto loss = [&] { return weighted_sum(a2.forward_inputs(in, true), w); };
  const Tensor num_q = numerical_gradient(loss, qs, 1e-2);
  const Tensor num_v = numerical_gradient(loss, vs, 1e-2);
  a2.forward_inputs(in, true);
  std::vector<const Tensor*> grads(2);
  a2.backward_inputs(w, grads);
  EXPECT_TRUE(gradients_close(*grads[0], num_q, 1e-3, 1e-2)) << "query";
  EXPECT_TRUE(gradients_close(*grads[1], num_v, 1e-3, 1e-2)) << "value";
}

class MasksTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new test::TorchReference("mask_reference.py"); }
  static void TearDownTestSuite() {
    delete ref_;
    ref_ = nullptr;
  }
  void SetUp() override {
    if (!ref_->skip_reason().empty()) GTEST_SKIP() << ref_->skip_reason();
    ASSERT_TRUE(ref_->error().empty()) << ref_->error();
  }
  static test::TorchReference* ref_;
};
test::TorchReference* MasksTorch::ref_ = nullptr;

namespace {
// Rows of y at the mask's data steps only ([B, T, U] -> the same shape, padded steps zeroed).
Tensor valid_steps(const Tensor& y, const Tensor& mask) {
  Tensor out = y.clone();
  const int64_t bt = mask.size(), u = y.size() / bt;
  for (int64_t r = 0; r < bt; ++r)
    if (mask[r] == 0.f)
      for (int64_t j = 0; j < u; ++j) out[r * u + j] = 0.f;
  return out;
}
}  // namespace

// nn.RNN/LSTM/GRU on pack_padded_sequence: the outputs at valid steps, the last states, gradients.
TEST_F(MasksTorch, RecurrentMatchesPackedSequences) {
  for (auto [file, cls] : {std::pair{"rnn", "SimpleRNN"}, std::pair{"lstm", "LSTM"}, std::pair{"gru", "GRU"}}) {
    SCOPED_TRACE(cls);
    const test::RefFile ref = ref_->load(file);
    const Tensor x = ref.at("x").to_tensor(), mask = ref.at("mask").to_tensor();
    const int64_t units = ref.at("h").shape[1];
    auto layer = make_recurrent(cls, units, {.return_sequences = true, .return_state = true});
    Rng rng(0);
    layer->build({x.dim(1), x.dim(2)}, rng);
    layer->kernel().copy_from(ref.at("kernel").to_tensor());
    layer->recurrent_kernel().copy_from(ref.at("recurrent_kernel").to_tensor());
    layer->bias().copy_from(ref.at("bias").to_tensor());
    layer->set_input_masks({&mask});
    test::expect_close(valid_steps(layer->forward(x, true), mask), ref.at("y"), "outputs at valid steps");
    test::expect_close(layer->extra_output(1), ref.at("h"), "last h");
    if (ref.count("c")) test::expect_close(layer->extra_output(2), ref.at("c"), "last c");
    const Tensor w = ref.at("w").to_tensor(), wh = ref.at("wh").to_tensor();
    const Tensor wc = ref.count("wc") ? ref.at("wc").to_tensor() : Tensor();
    std::vector<const Tensor*> out_grads{&w, &wh}, in_grads{nullptr};
    if (ref.count("wc")) out_grads.push_back(&wc);
    layer->backward_outputs(out_grads, in_grads);
    test::expect_close(*in_grads[0], ref.at("dx"), "dx");
    auto params = layer->params();
    test::expect_close(*params[0].grad, ref.at("dkernel"), "dkernel");
    test::expect_close(*params[1].grad, ref.at("drecurrent_kernel"), "drecurrent_kernel");
    test::expect_close(*params[2].grad, ref.at("dbias"), "dbias");
  }
}

// nn.LSTM/GRU(bidirectional=True) on a packed batch: Keras's Bidirectional with a mask.
TEST_F(MasksTorch, BidirectionalMatchesPackedSequences) {
  for (auto [file, cls] : {std::pair{"bi_lstm", "LSTM"}, std::pair{"bi_gru", "GRU"}}) {
    SCOPED_TRACE(cls);
    const test::RefFile ref = ref_->load(file);
    const Tensor x = ref.at("x").to_tensor(), mask = ref.at("mask").to_tensor();
    const int64_t units = ref.at("forward/kernel").shape[1] / (std::string(cls) == "LSTM" ? 4 : 3);
    Bidirectional bi(make_recurrent(cls, units, {.return_sequences = true}));
    Rng rng(0);
    bi.build({x.dim(1), x.dim(2)}, rng);
    auto params = bi.params();
    ASSERT_EQ(params.size(), 6u);
    const char* names[] = {"kernel", "recurrent_kernel", "bias"};
    for (size_t k = 0; k < 6; ++k)
      params[k].value->copy_from(ref.at(std::string(k < 3 ? "forward/" : "backward/") + names[k % 3]).to_tensor());
    bi.set_input_masks({&mask});
    test::expect_close(bi.forward(x, true), ref.at("y"), "outputs (zeros at padded steps, as both)");
    test::expect_close(bi.backward(ref.at("w").to_tensor()), ref.at("dx"), "dx");
    params = bi.params();
    for (size_t k = 0; k < 6; ++k)
      test::expect_close(*params[k].grad, ref.at(std::string(k < 3 ? "dforward/" : "dbackward/") + names[k % 3]),
                         params[k].name);
  }
}

// nn.MultiheadAttention with key_padding_mask against a masked self-attention.
TEST_F(MasksTorch, MultiHeadAttentionMatchesKeyPaddingMask) {
  const test::RefFile ref = ref_->load("mha");
  const Tensor x = ref.at("x").to_tensor(), mask = ref.at("mask").to_tensor();
  const Shape& qk = ref.at("query/kernel").shape;
  MultiHeadAttention mha(qk[1], qk[2]);
  Rng rng(0);
  mha.build_inputs({{x.dim(1), x.dim(2)}, {x.dim(1), x.dim(2)}}, rng);
  auto params = mha.params();
  for (auto& p : params) p.value->copy_from(ref.at(p.name).to_tensor());
  mha.set_input_masks({&mask, &mask});
  // Keras also hides everything from padded query rows (torch does not): valid rows only.
  test::expect_close(valid_steps(mha.forward_inputs({&x, &x}, true), mask), ref.at("y"), "outputs at valid rows");
  std::vector<const Tensor*> grads(2);
  mha.backward_inputs(ref.at("w").to_tensor(), grads);
  Tensor dx = grads[0]->clone();
  for (int64_t i = 0; i < dx.size(); ++i) dx[i] += (*grads[1])[i];
  test::expect_close(dx, ref.at("dx"), "dx");
  for (auto& p : params) {
    if (p.name == "key/bias") continue;  // zero up to rounding (see test_attention.cpp)
    test::expect_close(*p.grad, ref.at("d/" + p.name), p.name + " gradient");
  }
}

// The graph: masks start at Embedding(mask_zero) or Masking and reach the layers that read them.
namespace {
Model text_model(const std::string& head, bool mask_zero = true, int64_t steps = 6) {
  set_random_seed(21);
  auto ids = layers::Input({steps});
  auto x = Embedding(8, 4, {.mask_zero = mask_zero})(ids);
  x = Dense(4, "tanh")(x);  // passes the mask on
  if (head == "lstm") {
    x = LSTM(3)(x);
  } else if (head == "bigru") {
    x = Bidirectional(GRU(3, {.return_sequences = true}))(x);
    x = GlobalAveragePooling1D()(x);
  } else if (head == "mha") {
    x = MultiHeadAttention(2, 2)({x, x});
    x = GlobalAveragePooling1D()(x);
  } else {
    x = GlobalAveragePooling1D()(x);
  }
  return Model(ids, Dense(2)(x));
}
}  // namespace

// The same sequences padded to 6 and to 9 steps, through models with the same weights, predict the
// same; and whatever id 0's vector holds does not matter. Without mask_zero, padding counts.
TEST(Masks, PaddingDoesNotChangePredictions) {
  for (const char* head : {"lstm", "bigru", "mha", "pool"}) {
    SCOPED_TRACE(head);
    Model m = text_model(head);
    Model longer = text_model(head, true, 9);
    longer.build();
    m.build();
    longer.set_weights(m.get_weights());
    const Tensor a({2, 6}, {3, 1, 4, 1, 5, 0, 2, 7, 0, 0, 0, 0});
    const Tensor b({2, 9}, {3, 1, 4, 1, 5, 0, 0, 0, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0});
    const Tensor pa = m.predict(a), pb = longer.predict(b);
    for (int64_t i = 0; i < pa.size(); ++i) EXPECT_NEAR(pa[i], pb[i], 1e-5) << i;
    Tensor& table = std::static_pointer_cast<Embedding>(m.get_layer("embedding"))->embeddings();
    for (int64_t k = 0; k < 4; ++k) table[k] += 5.f;  // id 0's row
    const Tensor pc = m.predict(a);
    for (int64_t i = 0; i < pa.size(); ++i) EXPECT_NEAR(pa[i], pc[i], 1e-6) << i;

    Model plain = text_model(head, false);
    const Tensor p1 = plain.predict(a);
    auto pe = std::static_pointer_cast<Embedding>(plain.get_layer("embedding"));
    for (int64_t k = 0; k < 4; ++k) pe->embeddings()[k] += 5.f;
    const Tensor p2 = plain.predict(a);
    double diff = 0;
    for (int64_t i = 0; i < p1.size(); ++i) diff += std::abs(p1[i] - p2[i]);
    EXPECT_GT(diff, 1e-3);
  }
}

// Masking in a Sequential, merges (the AND of masks) and a recurrent layer that drops the mask.
TEST(Masks, MaskingAndMergesPropagateAsKeras) {
  set_random_seed(4);
  auto in = layers::Input({4, 2});
  auto masked = Masking()(in);
  auto a = Dense(3)(masked);
  auto b = Dense(3)(masked);
  auto sum = Add()({a, b});                 // both masked: the AND
  auto seq = SimpleRNN(3, {.return_sequences = true})(sum);  // passes it on
  auto cat = Concatenate()({seq, a});       // last axis: the AND
  auto pooled = GlobalAveragePooling1D()(cat);
  Model m(in, pooled);
  // Sample 0 has data at steps 0 and 2, sample 1 at step 1: the pooling, reached through Add, the
  // recurrent layer and Concatenate, averages those steps of its input only.
  Tensor x({2, 4, 2}, {1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0});
  const Tensor y = m.predict(x);
  Model cat_model(in, cat);
  const Tensor c = cat_model.predict(x);
  for (int64_t j = 0; j < 6; ++j) {
    EXPECT_NEAR(y[6 + j], c[(1 * 4 + 1) * 6 + j], 1e-6);
    EXPECT_NEAR(y[j], 0.5f * (c[(0 * 4 + 0) * 6 + j] + c[(0 * 4 + 2) * 6 + j]), 1e-6);
  }
  // A recurrent layer returning its last state drops the mask: the Dense after it runs unmasked.
  auto last = SimpleRNN(3)(masked);
  Model m2(in, Dense(2)(last));
  EXPECT_EQ(m2.predict(x).shape(), (Shape{2, 2}));
  // A layer that does not support masks (Conv1D) drops the mask, as Keras 3 does: the pooling after
  // it averages every step.
  auto conv = Conv1D(2, 1)(masked);
  Model conv_model(in, conv), pooled_conv(in, GlobalAveragePooling1D()(conv));
  const Tensor cv = conv_model.predict(x), pc = pooled_conv.predict(x);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < 2; ++j) {
      double mean = 0;
      for (int64_t t = 0; t < 4; ++t) mean += cv[(b * 4 + t) * 2 + j] / 4.0;
      EXPECT_NEAR(pc[b * 2 + j], mean, 1e-6);
    }
  EXPECT_EQ(SimpleRNN(3).mask_flow(), Layer::MaskFlow::Drop);
  EXPECT_EQ(SimpleRNN(3, {.return_sequences = true}).mask_flow(), Layer::MaskFlow::First);
}

TEST(Masks, MaskedModelSavesAndLoads) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_masks_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* head : {"lstm", "bigru", "mha"}) {
    SCOPED_TRACE(head);
    Model m = text_model(head);
    const Tensor x({2, 6}, {3, 1, 4, 1, 5, 0, 2, 7, 0, 0, 0, 0});
    const std::string file = (dir / (std::string(head) + ".safetensors")).string();
    m.save(file);
    Model loaded = load_model(file);
    EXPECT_EQ(loaded.to_json(), m.to_json());
    EXPECT_NE(m.to_json().find("\"mask_zero\":true"), std::string::npos) << m.to_json();
    EXPECT_EQ(loaded.predict(x).to_vector(), m.predict(x).to_vector());
  }
  {
    Sequential s({Masking(-1.f, Shape{3, 2}), LSTM(2)});
    const Tensor x({1, 3, 2}, {1, 2, -1, -1, 3, 4});
    const std::string file = (dir / "masking.safetensors").string();
    s.save(file);
    Model loaded = load_model(file);
    EXPECT_EQ(loaded.predict(x).to_vector(), s.predict(x).to_vector());
    auto c = loaded.get_layer("masking")->get_config();
    EXPECT_EQ(c["mask_value"], -1.f);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(Masks, TrainingWithMasksLearnsAndIgnoresPadding) {
  // The label is whether id 1 occurs; sequences are padded to 6 with id 0 after 1..6 ids.
  set_random_seed(2);
  Sequential m({Embedding(5, 4, {.input_shape = Shape{6}, .mask_zero = true}), LSTM(6), Dense(1, "sigmoid")});
  m.compile(optimizers::Adam(0.03), "binary_crossentropy", {"accuracy"});
  Rng r(9);
  Tensor x({128, 6}), y({128, 1});
  for (int64_t b = 0; b < 128; ++b) {
    const int64_t len = 1 + int64_t(r.uniform(0.f, 5.99f));
    bool one = false;
    for (int64_t t = 0; t < 6; ++t) {
      const float id = t < len ? float(1 + int64_t(r.uniform(0.f, 3.99f))) : 0.f;
      x[b * 6 + t] = id;
      one = one || id == 1.f;
    }
    y[b] = one ? 1.f : 0.f;
  }
  auto h = m.fit(x, y, {.epochs = 30, .batch_size = 16, .verbose = 0});
  EXPECT_GT(h.history.at("accuracy").back(), 0.9);
}

// ONNX graphs carry no masks: exporting a masked model is refused rather than silently counting padding.
TEST(Masks, OnnxExportRefusesMasks) {
  Model m = text_model("lstm");
  m.build();
  const fs::path file = fs::temp_directory_path() / ("myelin_masks_" + std::to_string(::getpid()) + ".onnx");
  expect_error<ValueError>([&] { m.export_model(file.string()); }, {"ONNX", "mask_zero"});
  Sequential s({Masking(0.f, Shape{3, 2}), LSTM(2)});
  s.build();
  expect_error<ValueError>([&] { s.export_model(file.string()); }, {"ONNX", "Masking"});
  std::error_code ec;
  fs::remove(file, ec);
}

TEST(Masks, ErrorsNameTheLayerAndShape) {
  Rng rng(0);
  expect_error<ShapeError>([&] { Masking().build({5}, rng); }, {"Masking", "(batch, steps, features)"});
  auto lstm = make_recurrent("LSTM", 2);
  lstm->build({4, 2}, rng);
  const Tensor x({2, 4, 2}), bad({2, 3});
  lstm->set_input_masks({&bad});
  expect_error<ShapeError>([&] { lstm->forward(x, false); }, {"LSTM", "mask", "(2, 3)"});
  GlobalAveragePooling1D pool;
  pool.build({4, 2}, rng);
  pool.set_input_masks({&bad});
  expect_error<ShapeError>([&] { pool.forward(x, false); }, {"GlobalAveragePooling1D", "mask"});
  expect_error<ValueError>([] { layers::from_config("Masking", {{"mask_value", "zero"}}); }, {"mask_value"});
}
