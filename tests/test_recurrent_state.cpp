// The recurrent layers' initial_state and return_state, and the graph's layers with several outputs:
// gradients through the state inputs and outputs against central finite differences, PyTorch's
// nn.RNN, nn.LSTM and nn.GRU given h0/c0 and returning h_n/c_n (tests/pytorch/recurrent_reference.py),
// an encoder-decoder functional model that trains, saves and loads (Keras 3's keras_history with its
// tensor index, initial_state as a keyword), and the errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "expect_error.hpp"
#include "gradient_check.hpp"
#include "recurrent_layers.hpp"
#include "myelin/error.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/layers/bidirectional.hpp"
#include "myelin/layers/dense.hpp"
#include "myelin/layers/input.hpp"
#include "myelin/layers/merge.hpp"
#include "myelin/layers/recurrent.hpp"
#include "myelin/layers/symbolic_tensor.hpp"
#include "myelin/model.hpp"
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

// Every output (sequence or last state, h, c) weighted, every input (x, h0, c0) perturbed.
TEST(RecurrentState, GradientsThroughInitialAndFinalStateMatchFiniteDifferences) {
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"})
    for (bool seq : {false, true})
      for (bool back : {false, true}) {
        SCOPED_TRACE(std::string(cls) + (seq ? " sequences" : " last") + (back ? " backwards" : ""));
        Rng rng(7);
        auto layer = make_recurrent(cls, 3, {.return_sequences = seq, .go_backwards = back, .return_state = true});
        const int states = layer->num_states();
        ASSERT_EQ(layer->num_outputs(), 1 + states);
        std::vector<Shape> in_shapes{{4, 2}};
        for (int k = 0; k < states; ++k) in_shapes.push_back({3});
        const Shape out = layer->build_inputs(in_shapes, rng);
        for (Tensor* t : {&layer->kernel(), &layer->recurrent_kernel()})
          for (int64_t i = 0; i < t->size(); ++i) (*t)[i] = rng.uniform(-0.9f, 0.9f);
        for (int64_t i = 0; i < layer->bias().size(); ++i) layer->bias()[i] = rng.uniform(-0.5f, 0.5f);
        std::vector<Tensor> xs{random_tensor({2, 4, 2}, rng, -1, 1)};
        for (int k = 0; k < states; ++k) xs.push_back(random_tensor({2, 3}, rng, -1, 1));
        std::vector<Tensor> ws{random_tensor(with_batch(2, out), rng, -1, 1)};
        for (int k = 0; k < states; ++k) ws.push_back(random_tensor({2, 3}, rng, -1, 1));
        std::vector<const Tensor*> in;
        for (auto& x : xs) in.push_back(&x);
        auto loss = [&] {
          double s = weighted_sum(layer->forward_inputs(in, true), ws[0]);
          for (int k = 1; k <= states; ++k) s += weighted_sum(layer->extra_output(k), ws[size_t(k)]);
          return s;
        };
        std::vector<Tensor> numeric;
        for (auto& x : xs) numeric.push_back(numerical_gradient(loss, x, 1e-2));
        const Tensor num_r = numerical_gradient(loss, layer->recurrent_kernel(), 1e-2);

        layer->forward_inputs(in, true);
        std::vector<const Tensor*> out_grads, in_grads(xs.size(), nullptr);
        for (auto& w : ws) out_grads.push_back(&w);
        layer->backward_outputs(out_grads, in_grads);
        const char* names[] = {"x", "h0", "c0"};
        for (size_t k = 0; k < xs.size(); ++k) {
          ASSERT_NE(in_grads[k], nullptr) << names[k];
          EXPECT_TRUE(gradients_close(*in_grads[k], numeric[k], 1e-3, 1e-2)) << names[k];
        }
        EXPECT_TRUE(gradients_close(*layer->params()[1].grad, num_r, 1e-3, 1e-2)) << "recurrent_kernel";
      }
}

// An output nobody reads gets no gradient (null): only the final h is weighted here.
TEST(RecurrentState, UnreadOutputsTakeNoGradient) {
  for (const char* cls : {"LSTM", "GRU"}) {
    SCOPED_TRACE(cls);
    Rng rng(3);
    auto layer = make_recurrent(cls, 2, {.return_sequences = true, .return_state = true});
    layer->build({3, 2}, rng);
    Tensor x = random_tensor({2, 3, 2}, rng, -1, 1);
    const Tensor wh = random_tensor({2, 2}, rng, -1, 1);
    auto loss = [&] {
      layer->forward(x, true);
      return weighted_sum(layer->extra_output(1), wh);
    };
    const Tensor numeric = numerical_gradient(loss, x, 1e-2);
    layer->forward(x, true);
    std::vector<const Tensor*> out_grads(size_t(layer->num_outputs()), nullptr), in_grads{nullptr};
    out_grads[1] = &wh;
    layer->backward_outputs(out_grads, in_grads);
    ASSERT_NE(in_grads[0], nullptr);
    EXPECT_TRUE(gradients_close(*in_grads[0], numeric, 1e-3, 1e-2));
  }
}

// ---- Against PyTorch --------------------------------------------------------------------------------

using myelin::test::expect_close;

TEST(RecurrentState, MatchesTorchWithInitialStateAndFinalState) {
  const myelin::test::TorchReference torch("recurrent_reference.py");
  if (!torch.skip_reason().empty()) GTEST_SKIP() << torch.skip_reason();
  ASSERT_EQ(torch.error(), "");
  struct Case {
    const char* file;
    const char* cls;
    int64_t units;
    bool return_sequences, go_backwards;
  };
  const Case cases[] = {
      {"state_rnn_sequences", "SimpleRNN", 6, true, false},
      {"state_lstm_last", "LSTM", 4, false, false},
      {"state_lstm_sequences_backwards", "LSTM", 5, true, true},
      {"state_gru_last_backwards", "GRU", 4, false, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const auto ref = torch.load(c.file);
    ASSERT_FALSE(ref.empty());
    const Tensor x = ref.at("x").to_tensor();
    auto layer = make_recurrent(c.cls, c.units,
                      {.return_sequences = c.return_sequences, .go_backwards = c.go_backwards, .return_state = true});
    const bool lstm = std::string(c.cls) == "LSTM";
    std::vector<Shape> shapes{{x.dim(1), x.dim(2)}, {c.units}};
    if (lstm) shapes.push_back({c.units});
    Rng rng(0);
    layer->build_inputs(shapes, rng);
    layer->kernel().copy_from(ref.at("kernel").to_tensor());
    layer->recurrent_kernel().copy_from(ref.at("recurrent_kernel").to_tensor());
    layer->bias().copy_from(ref.at("bias").to_tensor());
    const Tensor h0 = ref.at("h0").to_tensor();
    const Tensor c0 = lstm ? ref.at("c0").to_tensor() : Tensor();
    std::vector<const Tensor*> in{&x, &h0};
    if (lstm) in.push_back(&c0);
    expect_close(layer->forward_inputs(in, true), ref.at("y"), "output");
    expect_close(layer->extra_output(1), ref.at("h"), "final h");
    if (lstm) expect_close(layer->extra_output(2), ref.at("c"), "final c");
    const Tensor w = ref.at("w").to_tensor(), wh = ref.at("wh").to_tensor();
    const Tensor wc = lstm ? ref.at("wc").to_tensor() : Tensor();
    std::vector<const Tensor*> out_grads{&w, &wh};
    if (lstm) out_grads.push_back(&wc);
    std::vector<const Tensor*> in_grads(in.size(), nullptr);
    layer->backward_outputs(out_grads, in_grads);
    expect_close(*in_grads[0], ref.at("dx"), "input gradient");
    expect_close(*in_grads[1], ref.at("dh0"), "h0 gradient");
    if (lstm) expect_close(*in_grads[2], ref.at("dc0"), "c0 gradient");
    auto p = layer->params();
    expect_close(*p[0].grad, ref.at("dkernel"), "kernel gradient");
    expect_close(*p[1].grad, ref.at("drecurrent_kernel"), "recurrent kernel gradient");
    expect_close(*p[2].grad, ref.at("dbias"), "bias gradient");
  }
}

// ---- In models -----------------------------------------------------------------------------------------

namespace {

// A sequence-to-sequence model: the encoder's final state starts the decoder.
Model encoder_decoder(const std::string& cls) {
  auto enc_in = Input({5, 3}, "encoder_input");
  auto dec_in = Input({4, 2}, "decoder_input");
  auto encoder = make_recurrent(cls, 6, {.return_state = true, .name = "encoder"});
  auto states = encoder->call_outputs({enc_in});
  std::vector<SymbolicTensor> dec_args{dec_in};
  dec_args.insert(dec_args.end(), states.begin() + 1, states.end());
  auto decoder = make_recurrent(cls, 6, {.return_sequences = true, .name = "decoder"});
  auto y = decoder->call_outputs(dec_args)[0];
  return Model({enc_in, dec_in}, {Dense(1)(y)});
}

}  // namespace

TEST(RecurrentState, EncoderDecoderTrainsSavesAndLoads) {
  const fs::path dir = fs::temp_directory_path() / ("myelin_encdec_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* cls : {"LSTM", "GRU", "SimpleRNN"}) {
    SCOPED_TRACE(cls);
    set_random_seed(3);
    Model m = encoder_decoder(cls);
    m.compile(optimizers::Adam(0.02), "mse");
    // The target needs the encoder's input: the decoder learns it only through the state.
    Rng r(1);
    Tensor xe({32, 5, 3}), xd({32, 4, 2}), y({32, 4, 1});
    for (int64_t i = 0; i < xe.size(); ++i) xe[i] = r.uniform(-1, 1);
    for (int64_t i = 0; i < xd.size(); ++i) xd[i] = r.uniform(-1, 1);
    for (int64_t b = 0; b < 32; ++b)
      for (int64_t t = 0; t < 4; ++t) y[b * 4 + t] = 0.5f * xe[b * 15] + 0.3f * xd[(b * 4 + t) * 2 + 1];
    auto history = m.fit({xe, xd}, y, {.epochs = 30, .batch_size = 8, .verbose = 0});
    const auto& loss = history.history.at("loss");
    EXPECT_LT(loss.back(), 0.5 * loss.front());
    // The encoder trains through the state alone.
    const auto encoder_weights = m.get_layer("encoder")->params();
    ASSERT_FALSE(encoder_weights.empty());

    const std::string file = (dir / (std::string(cls) + ".safetensors")).string();
    m.save(file);
    Model loaded = load_model(file);
    EXPECT_EQ(loaded.to_json(), m.to_json());
    EXPECT_EQ(loaded.predict(std::vector<Tensor>{xe, xd})[0].to_vector(),
              m.predict(std::vector<Tensor>{xe, xd})[0].to_vector());

    // Keras 3's form: the decoder reads the encoder's outputs 1 (and 2) as initial_state.
    const auto config = nlohmann::json::parse(m.to_json());
    for (const auto& l : config["config"]["layers"]) {
      if (l["name"] != "decoder") continue;
      const auto& node = l["inbound_nodes"][0];
      EXPECT_EQ(node["args"][0]["config"]["keras_history"], nlohmann::json::array({"decoder_input", 0, 0}));
      const auto& state = node["kwargs"]["initial_state"];
      ASSERT_EQ(state.size(), std::string(cls) == "LSTM" ? 2u : 1u);
      for (size_t k = 0; k < state.size(); ++k)
        EXPECT_EQ(state[k]["config"]["keras_history"], nlohmann::json::array({"encoder", 0, int(k) + 1}));
    }
  }
  fs::remove_all(dir);
}

// The state outputs are model outputs too; a gradient reaches the encoder through h alone.
TEST(RecurrentState, StatesAreModelOutputs) {
  set_random_seed(2);
  auto x = Input({4, 3});
  auto outs = LSTM(5, {.return_sequences = true, .return_state = true}).call_outputs({x});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[1].index(), 1);
  Model m(std::vector<SymbolicTensor>{x}, {outs[1], outs[2]});
  m.build();
  EXPECT_EQ(m.output_shapes(), (std::vector<Shape>{{5}, {5}}));
  Rng r(4);
  Tensor xs = random_tensor({6, 4, 3}, r, -1, 1);
  const auto p = m.predict(std::vector<Tensor>{xs});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].shape(), (Shape{6, 5}));
  // h is the last step of the sequence output.
  Model seq(x, outs[0]);
  const Tensor ys = seq.predict(xs);
  for (int64_t b = 0; b < 6; ++b)
    for (int64_t j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(p[0][b * 5 + j], ys[(b * 4 + 3) * 5 + j]);
  m.compile(optimizers::SGD(0.1), std::vector<LossArg>{"mse", "mse"});
  const auto before = m.get_weights();
  Tensor t1({6, 5}), t2({6, 5});
  t1.fill(0.3f);
  t2.fill(-0.2f);
  m.fit(xs, {t1, t2}, {.epochs = 1, .batch_size = 6, .verbose = 0});
  EXPECT_NE(m.get_weights()[0].to_vector(), before[0].to_vector());
  // Keras's "Connected to" names the output read: lstm[0][2] is c.
  Model reads_c(std::vector<SymbolicTensor>{x}, {Dense(2)(outs[2])});
  EXPECT_NE(reads_c.summary_string().find("lstm[0][2]"), std::string::npos) << reads_c.summary_string();
}

TEST(RecurrentState, Errors) {
  auto x = Input({4, 3});
  auto h = Input({5});
  expect_error<ValueError>([&] { LSTM(5, {.return_state = true})(x); }, {"returns 3 tensors", "call_outputs"});
  expect_error<ValueError>([&] { LSTM(5).call_outputs({x, h}); }, {"initial state", "h and c", "got 2"});
  expect_error<ValueError>([&] { GRU(5).call_outputs({x, h, h}); }, {"GRU", "1 or 2 inputs"});
  auto bad = Input({4});
  auto y = GRU(5).call_outputs({x, bad})[0];
  Model m(std::vector<SymbolicTensor>{x, bad}, {y});
  expect_error<ShapeError>([&] { m.build(); }, {"GRU", "initial state 0", "(None, 5)", "(None, 4)"});
}
