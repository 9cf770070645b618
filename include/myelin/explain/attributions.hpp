// Attributions: how much each input value contributed to one score of a model's output, computed
// with the model's own backward pass (Model::gradients) in inference mode, for many inputs at once.
//
//   saliency              d(score)/d(x) (Simonyan et al., 2014), by default its magnitude
//   smooth_grad           saliency averaged over copies of x with Gaussian noise (Smilkov et al., 2017)
//   integrated_gradients  (x - baseline) times the gradient averaged along the straight path from
//                         the baseline to x (Sundararajan et al., 2017): the attributions add up to
//                         score(x) - score(baseline)
//   grad_cam              a convolutional layer's feature maps weighted by the spatial mean of the
//                         score's gradient over each, summed over channels, relu (Selvaraju et al., 2017)
//
// ```
// auto heat = explain::grad_cam(model, test.x.rows(0, 8));           // predicted classes
// auto ig = explain::integrated_gradients(model, x, 3, {.steps = 64});  // class 3 for every row
// ```
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "myelin/model.hpp"
#include "myelin/tensor.hpp"

namespace myelin::explain {

/// Which unit of the output each sample is explained for: a class index, or 0 for a regression's
/// one output (an index into the sample's flattened output).
struct Target {
  /// Each sample's predicted unit: the arg-max of its output for x.
  Target() = default;
  /// The same unit for every sample.
  Target(int unit) : units{unit} {}
  /// One unit per sample (or one for all).
  Target(std::vector<int> per_sample) : units(std::move(per_sample)) {}
  Target(std::initializer_list<int> per_sample) : units(per_sample) {}
  /// Empty: predicted; one: every sample's; otherwise one per sample.
  std::vector<int> units;
};

/// The score that is explained, and how the model is run.
struct ScoreOptions {
  /// The output layer's pre-activation (logit) where its activation is softmax or sigmoid, as the
  /// saliency and Grad-CAM papers do (a saturated softmax has vanishing gradients); false: the
  /// probability predict() returns.
  bool logits = true;
  /// Which output of a model with several.
  size_t output = 0;
  /// Rows per forward and backward pass (of x, of its noisy copies or of the path's points).
  int batch_size = 64;
};

struct SaliencyOptions {
  /// |d(score)/d(x)|, as Simonyan et al. and Captum's default; false: the signed gradient.
  bool absolute = true;
  ScoreOptions score = {};
};

struct SmoothGradOptions {
  /// Noisy copies of each input.
  int samples = 50;
  /// The noise's standard deviation as a fraction of each input's range (max - min), the paper's
  /// noise level (10-20% works best there).
  double noise = 0.15;
  /// Average |gradient| (true) or the signed gradient.
  bool absolute = true;
  /// Seeds the noise; by default 0, so that calls repeat.
  uint64_t seed = 0;
  ScoreOptions score = {};
};

struct IntegratedGradientsOptions {
  /// The input of "no information": one sample's shape (or x's shape, one per row); empty: zeros.
  Tensor baseline;
  /// Points on the path: the midpoint rule over `steps` equal intervals.
  int steps = 64;
  ScoreOptions score = {};
};

struct GradCamOptions {
  /// The layer whose feature maps are weighted: its per-sample output must be {height, width,
  /// channels}. Empty: the last such layer of the model.
  std::string layer;
  /// Resize the map to the input's height and width: what an overlay on the image needs. Each cell
  /// is placed at the centre of its receptive field, traced through the convolutions, pooling,
  /// zero padding and resizing between the input and the layer ('valid' convolutions shrink the
  /// grid towards the middle), and the map is interpolated bilinearly between the cells and held
  /// at its edge cells beyond them. Where the trace meets a layer that changes the grid otherwise
  /// (a crop, a reshape) the cells are spread evenly, as Keras's Resizing does (half-pixel
  /// centres); for 'same' padding and sizes that divide evenly the two agree.
  /// false: the map at the layer's height and width.
  bool upsample = true;
  ScoreOptions score = {};
};

/// Saliency of each row of x: a tensor shaped as x.
Tensor saliency(Model& model, const Tensor& x, const Target& target = {}, const SaliencyOptions& options = {});
/// SmoothGrad of each row of x: a tensor shaped as x.
Tensor smooth_grad(Model& model, const Tensor& x, const Target& target = {}, const SmoothGradOptions& options = {});
/// Integrated Gradients of each row of x: a tensor shaped as x, whose row sums are close to
/// scores(x) - scores(baseline) (closer with more steps).
Tensor integrated_gradients(Model& model, const Tensor& x, const Target& target = {},
                            const IntegratedGradientsOptions& options = {});
/// Grad-CAM of each row of x: {rows, height, width}, at the input's size when upsampled, else at
/// the layer's.
Tensor grad_cam(Model& model, const Tensor& x, const Target& target = {}, const GradCamOptions& options = {});

/// The explained score of each row of x: {rows}.
Tensor scores(Model& model, const Tensor& x, const Target& target = {}, const ScoreOptions& options = {});
/// The unit each row is explained for (resolves a predicted target): {rows} class indices.
std::vector<int> target_units(Model& model, const Tensor& x, const Target& target = {},
                              const ScoreOptions& options = {});

/// The name of the layer grad_cam uses by default: the last whose per-sample output is {height,
/// width, channels}. Throws ValueError when the model has none.
std::string last_spatial_layer(Model& model);

}  // namespace myelin::explain
