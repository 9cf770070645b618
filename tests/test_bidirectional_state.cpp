// Bidirectional over a layer with return_state: Keras 3's [output, forward states..., backward
// states...]. Every output weighted in the loss, gradients against central finite differences;
// outputs, final states and gradients against PyTorch's bidirectional nn.LSTM / nn.GRU / nn.RNN h_n
// and c_n (tests/pytorch/recurrent_reference.py); a functional model that returns the states, saves
// and loads; the errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "recurrent_layers.hpp"
#include "myelin/myelin.hpp"
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

}  // namespace

TEST(BidirectionalState, OutputsInKerasOrder) {
  Rng rng(1);
  Bidirectional bi(make_recurrent("LSTM", 3, {.return_state = true}));
  EXPECT_EQ(bi.num_outputs(), 5);
  EXPECT_EQ(bi.build({4, 2}, rng), (Shape{6}));
  for (int k = 1; k < 5; ++k) EXPECT_EQ(bi.extra_output_shape(k), (Shape{3}));
  const Tensor x = random_tensor({2, 4, 2}, rng, -1, 1);
  const Tensor y = bi.forward(x, false).clone();
  // Output k: forward h, forward c, backward h, backward c, each the wrapped layer's own final state.
  const Tensor* want[] = {&bi.forward_layer().extra_output(1), &bi.forward_layer().extra_output(2),
                          &bi.backward_layer().extra_output(1), &bi.backward_layer().extra_output(2)};
  for (int k = 1; k < 5; ++k) EXPECT_EQ(&bi.extra_output(k), want[k - 1]) << k;
  // Without return_sequences the concatenated output is [forward h, backward h].
  for (int b = 0; b < 2; ++b)
    for (int u = 0; u < 3; ++u) {
      EXPECT_EQ(y[b * 6 + u], bi.extra_output(1)[b * 3 + u]);
      EXPECT_EQ(y[b * 6 + 3 + u], bi.extra_output(3)[b * 3 + u]);
    }
  EXPECT_EQ(Bidirectional(make_recurrent("GRU", 3, {.return_state = true})).num_outputs(), 3);
  EXPECT_EQ(Bidirectional(make_recurrent("SimpleRNN", 3, {.return_state = true})).num_outputs(), 3);
  EXPECT_EQ(Bidirectional(make_recurrent("LSTM", 3)).num_outputs(), 1);
}

TEST(BidirectionalState, GradientsMatchFiniteDifferences) {
  struct Case {
    const char* cls;
    bool sequences;
    const char* merge;
    bool read_output;  // false: only the states reach the loss
  };
  for (const Case c : {Case{"LSTM", false, "concat", true}, Case{"LSTM", true, "sum", true},
                       Case{"GRU", true, "concat", true}, Case{"SimpleRNN", false, "mul", true},
                       Case{"LSTM", false, "concat", false}}) {
    SCOPED_TRACE(std::string(c.cls) + (c.sequences ? " sequences " : " last ") + c.merge +
                 (c.read_output ? "" : ", states only"));
    Rng rng(7);
    Bidirectional bi(make_recurrent(c.cls, 3, {.return_sequences = c.sequences, .return_state = true}), c.merge);
    bi.build({4, 2}, rng);
    Tensor x = random_tensor({2, 4, 2}, rng, -1, 1);
    const Tensor w = random_tensor(bi.forward(x, true).shape(), rng, -1, 1);
    std::vector<Tensor> ws;
    for (int k = 1; k < bi.num_outputs(); ++k) ws.push_back(random_tensor(with_batch(2, bi.extra_output_shape(k)), rng, -1, 1));
    auto loss = [&] {
      const double out = weighted_sum(bi.forward(x, true), w);
      double total = c.read_output ? out : 0.0;
      for (int k = 1; k < bi.num_outputs(); ++k) total += weighted_sum(bi.extra_output(k), ws[size_t(k - 1)]);
      return total;
    };
    loss();
    std::vector<const Tensor*> out_grads{c.read_output ? &w : nullptr};
    for (const auto& t : ws) out_grads.push_back(&t);
    std::vector<const Tensor*> in_grads{nullptr};
    bi.backward_outputs(out_grads, in_grads);
    ASSERT_NE(in_grads[0], nullptr);
    const Tensor dx = in_grads[0]->clone();
    auto params = bi.params();
    std::vector<Tensor> dw;
    for (auto& p : params) dw.push_back(p.grad->clone());
    EXPECT_TRUE(gradients_close(dx, numerical_gradient(loss, x, 1e-2), 1e-3, 1e-2)) << "input";
    for (size_t k = 0; k < params.size(); ++k)
      EXPECT_TRUE(gradients_close(dw[k], numerical_gradient(loss, *params[k].value, 1e-2), 1e-3, 1e-2)) << params[k].name;
  }
}

using myelin::test::expect_close;

TEST(BidirectionalState, MatchesTorchFinalStates) {
  const myelin::test::TorchReference torch("recurrent_reference.py");
  if (!torch.skip_reason().empty()) GTEST_SKIP() << torch.skip_reason();
  ASSERT_EQ(torch.error(), "");
  struct Case {
    const char* file;
    const char* cls;
    int64_t units;
    bool return_sequences;
    const char* merge;
  };
  const Case cases[] = {
      {"bi_state_lstm_concat_last", "LSTM", 4, false, "concat"},
      {"bi_state_lstm_sum_sequences", "LSTM", 3, true, "sum"},
      {"bi_state_gru_concat_sequences", "GRU", 4, true, "concat"},
      {"bi_state_rnn_concat_last", "SimpleRNN", 5, false, "concat"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const auto ref = torch.load(c.file);
    ASSERT_FALSE(ref.empty());
    const Tensor x = ref.at("x").to_tensor();
    Bidirectional bi(make_recurrent(c.cls, c.units, {.return_sequences = c.return_sequences, .return_state = true}), c.merge);
    Rng rng(0);
    bi.build({x.dim(1), x.dim(2)}, rng);
    for (auto [layer, d] : {std::pair<Recurrent*, std::string>{&bi.forward_layer(), "forward"},
                            {&bi.backward_layer(), "backward"}}) {
      layer->kernel().copy_from(ref.at(d + "/kernel").to_tensor());
      layer->recurrent_kernel().copy_from(ref.at(d + "/recurrent_kernel").to_tensor());
      layer->bias().copy_from(ref.at(d + "/bias").to_tensor());
    }
    const bool lstm = std::string(c.cls) == "LSTM";
    expect_close(bi.forward(x, true), ref.at("y"), "output");
    std::vector<std::string> names{"h_forward"};
    if (lstm) names.push_back("c_forward");
    names.push_back("h_backward");
    if (lstm) names.push_back("c_backward");
    ASSERT_EQ(bi.num_outputs(), int(names.size()) + 1);
    const Tensor w = ref.at("w").to_tensor();
    std::vector<Tensor> ws;
    for (size_t k = 0; k < names.size(); ++k) {
      expect_close(bi.extra_output(int(k) + 1), ref.at(names[k]), names[k]);
      ws.push_back(ref.at("w" + names[k]).to_tensor());
    }
    std::vector<const Tensor*> out_grads{&w};
    for (const auto& t : ws) out_grads.push_back(&t);
    std::vector<const Tensor*> in_grads{nullptr};
    bi.backward_outputs(out_grads, in_grads);
    expect_close(*in_grads[0], ref.at("dx"), "input gradient");
    for (auto [layer, d] : {std::pair<Recurrent*, std::string>{&bi.forward_layer(), "forward"},
                            {&bi.backward_layer(), "backward"}}) {
      auto p = layer->params();
      expect_close(*p[0].grad, ref.at("d" + d + "/kernel"), d + " kernel gradient");
      expect_close(*p[1].grad, ref.at("d" + d + "/recurrent_kernel"), d + " recurrent kernel gradient");
      expect_close(*p[2].grad, ref.at("d" + d + "/bias"), d + " bias gradient");
    }
  }
}

// An encoder whose two directions' states start two decoders, trained, saved and loaded.
TEST(BidirectionalState, StatesFeedAModelThatTrainsSavesAndLoads) {
  set_random_seed(3);
  auto enc_in = Input({5, 3}, "encoder_input");
  auto dec_in = Input({4, 2}, "decoder_input");
  auto s = Bidirectional(make_recurrent("LSTM", 6, {.return_state = true, .name = "encoder"})).call_outputs({enc_in});
  ASSERT_EQ(s.size(), 5u);
  auto fw = make_recurrent("LSTM", 6, {.return_sequences = true, .name = "decoder_fw"})->call_outputs({dec_in, s[1], s[2]})[0];
  auto bw = make_recurrent("LSTM", 6, {.return_sequences = true, .name = "decoder_bw"})->call_outputs({dec_in, s[3], s[4]})[0];
  Model model({enc_in, dec_in}, {Dense(1)(Concatenate()({fw, bw}))});
  model.compile(optimizers::Adam(0.01), "mse");
  Rng rng(4);
  const Tensor xe = random_tensor({32, 5, 3}, rng, -1, 1), xd = random_tensor({32, 4, 2}, rng, -1, 1);
  Tensor y({32, 4, 1});
  for (int64_t i = 0; i < 32; ++i)  // the target needs the encoder's input: its first feature's sum
    for (int64_t t = 0; t < 4; ++t) {
      float sum = 0;
      for (int64_t k = 0; k < 5; ++k) sum += xe[(i * 5 + k) * 3];
      y[i * 4 + t] = 0.3f * sum;
    }
  const double before = model.evaluate({xe, xd}, y).at("loss");
  model.fit({xe, xd}, y, {.epochs = 40, .batch_size = 8, .verbose = 0});
  const double after = model.evaluate({xe, xd}, y).at("loss");
  EXPECT_LT(after, 0.3 * before);
  const fs::path file = fs::temp_directory_path() / ("bidirectional_state_" + std::to_string(::getpid()) + ".safetensors");
  model.save(file.string());
  Model loaded = load_model(file.string());
  fs::remove(file);
  const Tensor a = model.predict({xe, xd})[0], b = loaded.predict({xe, xd})[0];
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
}

TEST(BidirectionalState, Errors) {
  // The backward layer must return its state when the forward one does.
  expect_error<ValueError>(
      [] {
        Bidirectional(make_recurrent("LSTM", 4, {.return_state = true}), "concat",
                      make_recurrent("LSTM", 4, {.go_backwards = true}));
      },
      {"Bidirectional", "return_state"});
  auto x = Input({5, 3});
  expect_error<ValueError>([&] { Bidirectional(make_recurrent("LSTM", 4, {.return_state = true}))(x); }, {"5 tensors"});
  Rng rng(0);
  Bidirectional bi(make_recurrent("GRU", 2, {.return_state = true}));
  bi.build({5, 3}, rng);
  const Tensor in = random_tensor({2, 5, 3}, rng, -1, 1);
  bi.forward(in, true);
  const Tensor bad({2, 3});
  std::vector<const Tensor*> grads{nullptr};
  expect_error<ShapeError>([&] { bi.backward_outputs({nullptr, &bad, nullptr}, grads); }, {"(2, 3)", "(2, 2)"});
}
