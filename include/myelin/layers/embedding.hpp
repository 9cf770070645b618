// Embedding: turns token ids into dense vectors, as Keras's layers.Embedding.
//
// Input: ids of any per-sample shape, (batch, steps) for sequences; output: that shape plus
// output_dim, y[b, t, :] = embeddings[x[b, t], :]. The one weight, "embeddings", is
// [input_dim, output_dim]; Keras's default initializer is "uniform", RandomUniform(-0.05, 0.05).
//
// Ids travel as float32, myelin's one tensor type, which holds every whole number up to 2^24
// exactly: input_dim may not exceed 2^24. An id that is negative, not a whole number or >= input_dim
// throws IndexError naming the id, its row and its position in the sample: a model checks its input
// arrays before it runs (check_model_input: the row of the caller's array), and forward() checks
// every batch before reading any row (the row of the batch).
//
// backward() writes d(loss)/d(embeddings), a scatter-add of dy into the rows the batch used, summed
// in a fixed order (the same whatever the thread count). Ids are not differentiable: the input
// gradient, when asked for, is zero, and the layer is usually a model's first.
//
// mask_zero=True (Keras's): id 0 is padding. The layer then gives its output a mask (Layer::MaskFlow),
// 1 where the id is not 0, which the layers after it follow: recurrent layers skip the padded steps,
// GlobalAveragePooling1D and attention leave them out. Id 0 still has a row of the table (its
// output is that row), as in Keras. With mask_zero the ids must have shape (batch, steps).
// input_length (Keras 2) is ignored, as Keras 3 does.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "myelin/initializers.hpp"
#include "myelin/layers/layer.hpp"

namespace myelin::layers {

/// Keras's keyword arguments of Embedding, with its defaults.
struct EmbeddingOptions {
  std::optional<Shape> input_shape;  ///< per-sample shape of the ids, e.g. Shape{steps}, for a first layer
  Initializer embeddings_initializer = "uniform";
  std::optional<Regularizer> embeddings_regularizer;
  bool mask_zero = false;  ///< id 0 is padding: the output carries a mask
  std::string name;
};

class Embedding : public Layer {
  MYELIN_LAYER_MOVABLE(Embedding)
  bool writes_lent_output() const override { return true; }
  bool writes_lent_input_grad() const override { return true; }

  /// Largest input_dim: every id below it is exact in float32.
  static constexpr int64_t kMaxInputDim = int64_t(1) << 24;

  /// `Embedding(10000, 64)`; `Embedding(10000, 64, {.input_shape = Shape{100}})`.
  /// Throws ValueError for a size that is not positive or input_dim > 2^24.
  Embedding(int64_t input_dim, int64_t output_dim, EmbeddingOptions options = {});

  std::string class_name() const override { return "Embedding"; }
  Shape build(const Shape& input_shape, Rng& rng) override;
  std::optional<LayerPlan> plan(const Shape& input_shape) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json get_config() const override;
  void check_model_input(const Tensor& x) const override;
  MaskFlow mask_flow() const override { return options_.mask_zero ? MaskFlow::Own : MaskFlow::Drop; }
  /// With mask_zero: [batch, steps], 1 where the last forward's id was not 0.
  const Tensor* output_mask() const override { return options_.mask_zero ? &mask_ : nullptr; }

  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  const EmbeddingOptions& options() const { return options_; }
  Tensor& embeddings() { return embeddings_; }

 protected:
  std::vector<Param> own_params() override;

 private:
  // Throws IndexError if an id of x is out of range; `row` names its rows ("row", "batch row").
  void check_ids(const Tensor& x, const char* row) const;
  int64_t input_dim_, output_dim_;
  EmbeddingOptions options_;
  Tensor embeddings_, embeddings_grad_;
  Tensor x_, y_, dx_, no_grad_;  // x_: view of the last forward batch's ids
  Tensor mask_;                  // mask_zero: the last forward's mask
  Shape shape_buf_;
  std::vector<uint64_t> order_;  // the backward's sort scratch
};

}  // namespace myelin::layers
