// Merge layers: combine a list of inputs into one output, as Keras's Add, Subtract, Multiply,
// Average, Maximum, Minimum and Concatenate. `auto y = layers::Add()({a, b});`
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::kernels {
struct BroadcastPlan;
}

namespace myelin::layers {

/// The element-wise merges. The inputs' per-sample shapes broadcast as Keras's (and numpy's): aligned
/// at their last axes, a shorter shape taken as padded with size-1 axes in front, and on each axis
/// the sizes agree or are 1, a size-1 axis repeating its values; the output has the larger size on
/// every axis. `Add()({a, b})` with a of shape (None, 4, 3) and b of shape (None, 1, 3) or (None, 3)
/// adds b to each of a's 4 rows. Backward sums each input's gradient over the positions it was
/// repeated into. Shapes that do not broadcast are a ShapeError naming the layer and the shapes.
class ElementwiseMerge : public Layer {
 public:
  MaskFlow mask_flow() const override { return MaskFlow::All; }  // Keras: the AND of the masks
  ~ElementwiseMerge() override;
  ElementwiseMerge(ElementwiseMerge&&) noexcept;
  int num_inputs() const override { return -1; }
  bool writes_lent_output() const override { return true; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  Shape build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) override;
  std::optional<LayerPlan> plan_inputs(const std::vector<Shape>& input_shapes) const override;
  const Tensor& forward_inputs(const std::vector<const Tensor*>& inputs, bool training) override;
  void backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) override;
  /// An Add of equal shapes applies a relu Activation after it in its own pass; every input then
  /// receives the one gradient dy masked where the output is 0.
  bool can_fuse_next(const Layer& next) const override;
  bool fused_pass_gives_input_grad() const override { return true; }
  /// Such an Add with its relu writes its output in bfloat16 where the graph sets it (the Conv2D
  /// layers reading it multiply in bfloat16, Conv2D::can_take_bf16_in_training); its backward masks
  /// from that output.
  void set_bf16_write(bool write) override { bf16_write_ = write; }
  bool bf16_output() const override { return wrote_bf16_; }

 protected:
  /// The output shape for these inputs; ShapeError/ValueError naming the layer when they do not fit.
  virtual Shape output_shape_for(const std::vector<Shape>& input_shapes) const;
  explicit ElementwiseMerge(std::string name);

 private:
  std::vector<Tensor> x_, dx_;  // views of the last inputs; their gradients
  std::vector<const float*> xs_;
  std::vector<float*> dxs_;
  Tensor y_, scratch_;
  bool bf16_write_ = false, wrote_bf16_ = false;  // set_bf16_write, bf16_output
  Shape out_shape_, shape_buf_;                   // per sample; the output's with the batch
  std::unique_ptr<kernels::BroadcastPlan> plan_;  // null when every input has the output's shape
};

/// The sum of its inputs.
class Add : public ElementwiseMerge {
  MYELIN_LAYER_MOVABLE(Add)
  explicit Add(std::string name = "") : ElementwiseMerge(std::move(name)) {}
  std::string class_name() const override { return "Add"; }
};

/// inputs[0] - inputs[1]: exactly two inputs.
class Subtract : public ElementwiseMerge {
  MYELIN_LAYER_MOVABLE(Subtract)
  explicit Subtract(std::string name = "") : ElementwiseMerge(std::move(name)) {}
  std::string class_name() const override { return "Subtract"; }

 protected:
  Shape output_shape_for(const std::vector<Shape>& input_shapes) const override;
};

/// The element-wise product of its inputs.
class Multiply : public ElementwiseMerge {
  MYELIN_LAYER_MOVABLE(Multiply)
  explicit Multiply(std::string name = "") : ElementwiseMerge(std::move(name)) {}
  std::string class_name() const override { return "Multiply"; }
};

/// The mean of its inputs.
class Average : public ElementwiseMerge {
  MYELIN_LAYER_MOVABLE(Average)
  explicit Average(std::string name = "") : ElementwiseMerge(std::move(name)) {}
  std::string class_name() const override { return "Average"; }
};

/// The element-wise maximum; the gradient goes to the first input holding it.
class Maximum : public ElementwiseMerge {
  MYELIN_LAYER_MOVABLE(Maximum)
  explicit Maximum(std::string name = "") : ElementwiseMerge(std::move(name)) {}
  std::string class_name() const override { return "Maximum"; }
};

/// The element-wise minimum; the gradient goes to the first input holding it.
class Minimum : public ElementwiseMerge {
  MYELIN_LAYER_MOVABLE(Minimum)
  explicit Minimum(std::string name = "") : ElementwiseMerge(std::move(name)) {}
  std::string class_name() const override { return "Minimum"; }
};

/// Joins its inputs along `axis` (Keras's numbering: -1 is the last axis, 1 the first after the
/// batch); every other axis must agree.
class Concatenate : public Layer {
  MYELIN_LAYER_MOVABLE(Concatenate)
  explicit Concatenate(int axis = -1, std::string name = "");
  std::string class_name() const override { return "Concatenate"; }
  bool writes_lent_output() const override { return true; }
  int num_inputs() const override { return -1; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  Shape build_inputs(const std::vector<Shape>& input_shapes, Rng& rng) override;
  std::optional<LayerPlan> plan_inputs(const std::vector<Shape>& input_shapes) const override;
  const Tensor& forward_inputs(const std::vector<const Tensor*>& inputs, bool training) override;
  void backward_inputs(const Tensor& dy, std::vector<const Tensor*>& input_grads) override;
  nlohmann::json get_config() const override;
  int axis() const { return axis_; }
  /// Keras: on the last axis the AND of the masks (a step is data where every input's is); along
  /// another axis myelin drops them.
  MaskFlow mask_flow() const override {
    return sample_axis_ + 1 == out_shape_.size() ? MaskFlow::All : MaskFlow::Drop;
  }

 private:
  int axis_;
  size_t sample_axis_ = 0;        // the axis within a sample
  std::vector<int64_t> widths_;   // each input's extent along it
  int64_t inner_ = 1;             // values per step of the axis
  std::vector<Tensor> dx_;
  std::vector<const float*> xs_;
  std::vector<float*> dxs_;
  Tensor y_;
  Shape out_shape_, shape_buf_;
};

}  // namespace myelin::layers
