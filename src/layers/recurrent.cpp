#include "myelin/layers/recurrent.hpp"

#include <algorithm>

#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/dropout.hpp"
#include "kernels/cpu/recurrent.hpp"
#include "myelin/error.hpp"
#include "myelin/io/config.hpp"
#include "myelin/mixed_precision.hpp"

namespace myelin::layers {

namespace {

kernels::RecurrentCell cell_of(int gates) {
  return gates == 4 ? kernels::RecurrentCell::LSTM
                    : gates == 3 ? kernels::RecurrentCell::GRU : kernels::RecurrentCell::SimpleRNN;
}

const char* class_of(int gates) { return gates == 4 ? "LSTM" : gates == 3 ? "GRU" : "SimpleRNN"; }

ActivationKind cell_activation(const std::string& name, const char* argument, int gates) {
  const ActivationKind kind = activation_from_name(name);
  if (!kernels::recurrent_activation_supported(kind))
    throw ValueError(std::string(class_of(gates)) + ": " + argument + " '" + name +
                     "' is not supported (supported: tanh, sigmoid, relu, linear)");
  return kind;
}

}  // namespace

Recurrent::Scratch::Scratch() : ws(std::make_unique<kernels::RecurrentWorkspace>()) {}
Recurrent::Scratch::Scratch(const Scratch&) : Scratch() {}
Recurrent::Scratch::Scratch(Scratch&&) noexcept = default;
Recurrent::Scratch& Recurrent::Scratch::operator=(const Scratch&) {
  ws = std::make_unique<kernels::RecurrentWorkspace>();
  kept = false;
  return *this;
}
Recurrent::Scratch& Recurrent::Scratch::operator=(Scratch&&) noexcept = default;
Recurrent::Scratch::~Scratch() = default;

Recurrent::Recurrent(int gates, int64_t units, RecurrentOptions options)
    : gates_(gates),
      units_(units),
      activation_(cell_activation(options.activation, "activation", gates)),
      recurrent_activation_(cell_activation(options.recurrent_activation, "recurrent_activation", gates)),
      options_(std::move(options)) {
  const std::string who = class_of(gates);
  if (units <= 0) throw ValueError(who + ": units must be positive, got " + std::to_string(units));
  if (!(options_.dropout >= 0.f && options_.dropout < 1.f))
    throw ValueError(who + ": dropout must be in [0, 1), got " + std::to_string(options_.dropout));
  if (!(options_.recurrent_dropout >= 0.f && options_.recurrent_dropout < 1.f))
    throw ValueError(who + ": recurrent_dropout must be in [0, 1), got " + std::to_string(options_.recurrent_dropout));
  if (gates == 3 && !options_.reset_after)
    throw ValueError(who + ": reset_after=False is not supported, only Keras 3's default reset_after=True");
  options_.dtype = mixed_precision::layer_policy(options_.dtype, who);
  bf16_ = options_.dtype == "mixed_bfloat16" && kernels::bf16_supported();
  input_shape_ = options_.input_shape;
  name_ = options_.name;
}

std::optional<LayerPlan> Recurrent::plan(const Shape& input_shape) const {
  if (input_shape.size() != 2 || input_shape[0] <= 0 || input_shape[1] <= 0)
    throw ShapeError(std::string(class_of(gates_)) + " '" + name_ +
                     "' needs sequences (steps, features) per sample, got " + shape_to_string(input_shape));
  LayerPlan p{options_.return_sequences ? Shape{input_shape[0], units_} : Shape{units_}};
  const int64_t n = gates_ * units_;
  p.trainable_values = input_shape[1] * n + units_ * n + (options_.use_bias ? (gates_ == 3 ? 2 : 1) * n : 0);
  return p;
}

Shape Recurrent::build(const Shape& input_shape, Rng& rng) {
  LayerPlan p = *plan(input_shape);
  steps_ = input_shape[0];
  features_ = input_shape[1];
  const int64_t n = gates_ * units_;
  kernel_ = Tensor({features_, n});
  kernel_grad_ = Tensor({features_, n});
  recurrent_kernel_ = Tensor({units_, n});
  recurrent_kernel_grad_ = Tensor({units_, n});
  initializers::fill(options_.kernel_initializer, kernel_, features_, n, rng);
  initializers::fill(options_.recurrent_initializer, recurrent_kernel_, units_, n, rng);
  if (options_.use_bias) {
    const Shape bs = gates_ == 3 ? Shape{2, n} : Shape{n};
    bias_ = Tensor(bs);
    bias_grad_ = Tensor(bs);
    initializers::fill(options_.bias_initializer, bias_, features_, n, rng);
    // Keras: the forget gate's bias starts at one, whatever bias_initializer gives the others.
    if (gates_ == 4 && options_.unit_forget_bias)
      for (int64_t j = 0; j < units_; ++j) bias_[units_ + j] = 1.f;
  }
  reseed(rng);
  built_ = true;
  return p.output_shape;
}

std::string Recurrent::check_input_count(size_t count) const {
  if (count == 1 || count == size_t(1 + num_states())) return "";
  return "takes its input, optionally followed by its initial state (" +
         std::string(gates_ == 4 ? "h and c" : "h") + "), so 1 or " + std::to_string(1 + num_states()) +
         " inputs; got " + std::to_string(count);
}

namespace {
// The initial state's shapes: each (units).
void check_state_shapes(const std::vector<Shape>& shapes, int64_t units, const std::string& who) {
  for (size_t k = 1; k < shapes.size(); ++k)
    if (shapes[k] != Shape{units})
      throw ShapeError(who + ": initial state " + std::to_string(k - 1) + " must have shape " +
                       shape_to_string(with_batch(-1, {units}), true) + ", got " +
                       shape_to_string(with_batch(-1, shapes[k]), true));
}
}  // namespace

Shape Recurrent::build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) {
  const std::string why = check_input_count(input_shapes.size());
  if (!why.empty()) throw ValueError(std::string(class_of(gates_)) + " '" + name_ + "' " + why);
  check_state_shapes(input_shapes, units_, std::string(class_of(gates_)) + " '" + name_ + "'");
  return build(input_shapes[0], rng);
}

std::optional<LayerPlan> Recurrent::plan_inputs(const std::vector<Shape>& input_shapes) const {
  const std::string why = check_input_count(input_shapes.size());
  if (!why.empty()) throw ValueError(std::string(class_of(gates_)) + " '" + name_ + "' " + why);
  check_state_shapes(input_shapes, units_, std::string(class_of(gates_)) + " '" + name_ + "'");
  return plan(input_shapes[0]);
}

Shape Recurrent::extra_output_shape(int k) const {
  if (k < 1 || k >= num_outputs()) return Layer::extra_output_shape(k);
  return Shape{units_};
}

const Tensor& Recurrent::extra_output(int k) const {
  if (k < 1 || k >= num_outputs()) return Layer::extra_output(k);
  return k == 1 ? h_out_ : c_out_;
}

const Tensor& Recurrent::forward(const Tensor& x, bool training) {
  one_input_[0] = &x;
  return forward_inputs(one_input_, training);
}

const Tensor& Recurrent::forward_inputs(const std::vector<const Tensor*>& inputs, bool training) {
  const Tensor& x = *inputs[0];
  if (x.ndim() != 3 || x.dim(2) != features_)
    throw ShapeError(std::string(class_of(gates_)) + " '" + name_ + "' built for (batch, steps, " +
                     std::to_string(features_) + ") got " + shape_to_string(x.shape()));
  kernels::RecurrentGeometry g{cell_of(gates_), x.dim(0), x.dim(1), features_, units_, activation_,
                               recurrent_activation_, options_.go_backwards, options_.return_sequences};
  g.bf16 = bf16_;
  masked_ = false;
  if (const Tensor* m = input_mask()) {
    if (m->shape() != Shape{g.batch, g.steps})
      throw ShapeError(std::string(class_of(gates_)) + " '" + name_ + "': mask " + shape_to_string(m->shape()) +
                       " does not fit input " + shape_to_string(x.shape()));
    mask_.alias(*m, m->shape());
    masked_ = true;
    g.mask = mask_.data();
    g.zero_output_for_mask = options_.zero_output_for_mask;
  }
  Tensor& y = output_buffer(y_);
  shape_buf_ = options_.return_sequences ? Shape{g.batch, g.steps, units_} : Shape{g.batch, units_};
  y.resize(shape_buf_);
  // Inference that no backward follows keeps nothing per step: two state vectors only.
  const bool keep = training || backward_follows_;
  // Dropout while training: the input's mask is shared by every step of a sample (positions = steps).
  input_dropped_ = training && options_.dropout > 0.f;
  recurrent_dropped_ = training && options_.recurrent_dropout > 0.f;
  const Tensor* in = &x;
  if (input_dropped_) {
    input_mask_.resize({g.batch, features_});
    x_dropped_.resize(x.shape());
    kernels::dropout_forward(rng_, options_.dropout, x.data(), input_mask_.data(), x_dropped_.data(), g.batch, g.steps,
                             features_);
    in = &x_dropped_;
  }
  if (recurrent_dropped_) {
    recurrent_mask_.resize({g.batch, units_});
    kernels::dropout_mask(rng_, options_.recurrent_dropout, recurrent_mask_.data(), recurrent_mask_.size());
  }
  states_given_ = int(inputs.size()) - 1;
  for (int k = 0; k < states_given_; ++k)
    if (inputs[size_t(k + 1)]->shape() != Shape{g.batch, units_})
      throw ShapeError(std::string(class_of(gates_)) + " '" + name_ + "': initial state " + std::to_string(k) +
                       " must have shape " + shape_to_string(Shape{g.batch, units_}) + ", got " +
                       shape_to_string(inputs[size_t(k + 1)]->shape()));
  const float* h0 = states_given_ > 0 ? inputs[1]->data() : nullptr;
  const float* c0 = states_given_ > 1 ? inputs[2]->data() : nullptr;
  kernels::recurrent_forward(g, in->data(), kernel_.data(), recurrent_kernel_.data(),
                             options_.use_bias ? bias_.data() : nullptr,
                             recurrent_dropped_ ? recurrent_mask_.data() : nullptr, h0, c0, y.data(), keep,
                             *scratch_.ws);
  scratch_.kept = keep;
  if (options_.return_state) {
    h_out_.resize({g.batch, units_});
    std::copy(scratch_.ws->h.begin(), scratch_.ws->h.end(), h_out_.data());
    if (gates_ == 4) {
      c_out_.resize({g.batch, units_});
      std::copy(scratch_.ws->c.begin(), scratch_.ws->c.end(), c_out_.data());
    }
  }
  x_.alias(*in, in->shape());
  return y;
}

const Tensor& Recurrent::backward(const Tensor& dy) {
  one_input_grad_.assign(1 + size_t(states_given_), nullptr);  // within its capacity after the first step
  one_grad_[0] = &dy;
  backward_outputs(one_grad_, one_input_grad_);
  return one_input_grad_[0] ? *one_input_grad_[0] : no_grad_;
}

void Recurrent::backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) {
  one_grad_[0] = &dy;
  backward_outputs(one_grad_, input_grads);
}

void Recurrent::backward_outputs(const std::vector<const Tensor*>& output_grads, std::vector<const Tensor*>& input_grads) {
  const std::string who = std::string(class_of(gates_)) + " '" + name_ + "'";
  const Tensor* dy_p = output_grads[0];
  if (!scratch_.kept) throw ValueError(who + ": backward needs a forward that kept its steps (training, or backward to follow)");
  const int64_t batch = x_.dim(0), steps = x_.dim(1);
  const Shape want = options_.return_sequences ? Shape{batch, steps, units_} : Shape{batch, units_};
  if (dy_p && dy_p->shape() != want)
    throw ShapeError(who + ": output gradient " + shape_to_string(dy_p->shape()) + " does not match the output " +
                     shape_to_string(want));
  // The final state's gradients (return_state), each null where nothing reads it.
  const Tensor* dh_last = output_grads.size() > 1 ? output_grads[1] : nullptr;
  const Tensor* dc_last = output_grads.size() > 2 ? output_grads[2] : nullptr;
  for (const Tensor* d : {dh_last, dc_last})
    if (d && d->shape() != Shape{batch, units_})
      throw ShapeError(who + ": state gradient " + shape_to_string(d->shape()) + " does not match the state " +
                       shape_to_string(Shape{batch, units_}));
  if (input_grads.size() != 1 + size_t(states_given_))
    throw ValueError(who + ": backward for " + std::to_string(input_grads.size()) + " inputs after a forward of " +
                     std::to_string(1 + states_given_));
  kernels::RecurrentGeometry g{cell_of(gates_), batch, steps, features_, units_, activation_, recurrent_activation_,
                               options_.go_backwards, options_.return_sequences};
  g.bf16 = bf16_;
  if (masked_) {
    g.mask = mask_.data();
    g.zero_output_for_mask = options_.zero_output_for_mask;
  }
  Tensor* dx = nullptr;
  if (needs_input_grad_) {
    dx = &input_grad_buffer(dx_);
    dx->resize(x_.shape());
  }
  float* dh0 = nullptr;
  float* dc0 = nullptr;
  if (needs_input_grad_ && states_given_ > 0) {
    dh0_.resize({batch, units_});
    dh0 = dh0_.data();
    if (states_given_ > 1) {
      dc0_.resize({batch, units_});
      dc0 = dc0_.data();
    }
  }
  kernels::recurrent_backward(g, x_.data(), kernel_.data(), recurrent_kernel_.data(),
                              recurrent_dropped_ ? recurrent_mask_.data() : nullptr, dy_p ? dy_p->data() : nullptr,
                              dh_last ? dh_last->data() : nullptr, dc_last ? dc_last->data() : nullptr, *scratch_.ws,
                              dx ? dx->data() : nullptr, trainable_ ? kernel_grad_.data() : nullptr,
                              trainable_ ? recurrent_kernel_grad_.data() : nullptr,
                              trainable_ && options_.use_bias ? bias_grad_.data() : nullptr, dh0, dc0);
  if (dx && input_dropped_)
    kernels::dropout_apply(dx->data(), input_mask_.data(), dx->data(), batch, steps, features_);
  input_grads[0] = dx;
  if (states_given_ > 0) input_grads[1] = dh0 ? &dh0_ : nullptr;
  if (states_given_ > 1) input_grads[2] = dc0 ? &dc0_ : nullptr;
}

int64_t Recurrent::flops_per_sample() const {
  const int64_t n = gates_ * units_;
  return 2 * steps_ * (features_ + units_) * n;
}

std::vector<Param> Recurrent::own_params() {
  auto reg = [](const std::optional<Regularizer>& r) { return r ? &*r : nullptr; };
  std::vector<Param> p;
  p.push_back({"kernel", &kernel_, &kernel_grad_, reg(options_.kernel_regularizer)});
  p.push_back({"recurrent_kernel", &recurrent_kernel_, &recurrent_kernel_grad_, reg(options_.recurrent_regularizer)});
  if (options_.use_bias) p.push_back({"bias", &bias_, &bias_grad_, reg(options_.bias_regularizer)});
  return p;
}

nlohmann::json Recurrent::get_config() const {
  nlohmann::json c = Layer::get_config();
  c["units"] = units_;
  c["activation"] = activation_name(activation_);
  if (gates_ != 1) c["recurrent_activation"] = activation_name(recurrent_activation_);
  c["use_bias"] = options_.use_bias;
  c["kernel_initializer"] = io::initializer_to_json(options_.kernel_initializer);
  c["recurrent_initializer"] = io::initializer_to_json(options_.recurrent_initializer);
  c["bias_initializer"] = io::initializer_to_json(options_.bias_initializer);
  if (gates_ == 4) c["unit_forget_bias"] = options_.unit_forget_bias;
  c["kernel_regularizer"] = io::regularizer_to_json(options_.kernel_regularizer);
  c["recurrent_regularizer"] = io::regularizer_to_json(options_.recurrent_regularizer);
  c["bias_regularizer"] = io::regularizer_to_json(options_.bias_regularizer);
  c["dropout"] = options_.dropout;
  c["recurrent_dropout"] = options_.recurrent_dropout;
  c["return_sequences"] = options_.return_sequences;
  c["return_state"] = options_.return_state;
  c["go_backwards"] = options_.go_backwards;
  c["zero_output_for_mask"] = options_.zero_output_for_mask;
  c["stateful"] = false;
  c["unroll"] = false;
  if (gates_ == 3) c["reset_after"] = options_.reset_after;
  if (options_.dtype != "float32") c["dtype"] = mixed_precision::policy_to_config(options_.dtype);
  return c;
}

SimpleRNN::SimpleRNN(int64_t units, RecurrentOptions options) : Recurrent(1, units, std::move(options)) {}
LSTM::LSTM(int64_t units, RecurrentOptions options) : Recurrent(4, units, std::move(options)) {}
GRU::GRU(int64_t units, RecurrentOptions options) : Recurrent(3, units, std::move(options)) {}

}  // namespace myelin::layers
