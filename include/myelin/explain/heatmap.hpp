// Pictures of attributions: a heat map laid over the input image, alone or as a grid.
//
// Colour map: "jet" (blue for none, through cyan, green and yellow, to red for the largest), the
// map Keras's Grad-CAM example uses. Scale: each map is divided by the 99th percentile of its
// magnitudes and clipped at 1, so that a few extreme pixels do not wash the rest out (as the
// SmoothGrad paper shows its maps). The image is drawn in grey, scaled by its own minimum and
// maximum, and the colour is blended over it with the given opacity.
#pragma once
#include <string>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin::explain {

struct HeatmapOptions {
  /// Each pixel drawn as scale x scale (a 28 x 28 image is small on a screen).
  int scale = 1;
  /// The colour's weight over the grey image, in [0, 1].
  double opacity = 0.5;
};

/// Writes a PNG of `attribution` over `image`. image: {height, width} or {height, width, channels}
/// with 1 or 3 channels; attribution: {height, width} or {height, width, channels} (the channels'
/// largest magnitude is drawn). Written to a temporary name and renamed. Throws ShapeError when
/// the shapes disagree, IOError when the file cannot be written.
void save_heatmap(const std::string& path, const Tensor& image, const Tensor& attribution,
                  const HeatmapOptions& options = {});
/// A grid: one row per image of `images` {n, height, width[, channels]}; its first column the image
/// alone, then one overlay for each tensor of `attributions` (each {n, height, width[, channels]},
/// the methods side by side), with a 2-pixel white gap between the cells.
void save_heatmap_grid(const std::string& path, const Tensor& images, const std::vector<Tensor>& attributions,
                       const HeatmapOptions& options = {});

/// The colour of t in [0, 1] under the jet map, as 8-bit RGB.
void jet_colour(double t, unsigned char rgb[3]);

}  // namespace myelin::explain
