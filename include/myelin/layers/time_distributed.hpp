// TimeDistributed: Keras 3's wrapper that applies one layer to every step of a sequence.
//
// `TimeDistributed(Conv2D(8, {3, 3}))` on (batch, steps, 28, 28, 1) gives (batch, steps, 26, 26, 8):
// the steps are folded into the batch, so the wrapped layer runs once on (batch * steps, 28, 28, 1)
// with the same weights at every step, and its gradients sum over the steps. The weights are the
// wrapped layer's, under its own names ("time_distributed/kernel"). The wrapped layer takes one
// input; its training flags (trainable, input gradients) follow the wrapper's.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "myelin/layers/layer.hpp"

namespace myelin::layers {

class TimeDistributed : public Layer {
  MYELIN_LAYER_MOVABLE(TimeDistributed)
  MaskFlow mask_flow() const override { return MaskFlow::First; }  // Keras: supports_masking
  template <class L, class = std::enable_if_t<std::is_base_of_v<Layer, std::decay_t<L>>>>
  explicit TimeDistributed(L&& layer, std::optional<Shape> input_shape = std::nullopt)
      : TimeDistributed(std::shared_ptr<Layer>(std::make_shared<std::decay_t<L>>(std::forward<L>(layer))),
                        std::move(input_shape)) {}
  explicit TimeDistributed(std::shared_ptr<Layer> layer, std::optional<Shape> input_shape = std::nullopt);

  std::string class_name() const override { return "TimeDistributed"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  int64_t flops_per_sample() const override { return steps_ * layer_->flops_per_sample(); }
  void reseed(Rng& rng) override { layer_->reseed(rng); }

  Layer& layer() { return *layer_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  void sync_flags();
  std::shared_ptr<Layer> layer_;
  int64_t steps_ = 0;
  Shape step_in_, step_out_;  // the wrapped layer's per-sample shapes
  Tensor x_fold_, y_, dy_fold_, dx_, no_grad_;
  Shape shape_buf_;
};

}  // namespace myelin::layers
