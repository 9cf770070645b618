// Pictures of attributions: a heat map laid over the input image, alone or as a grid.
//
// Colour map: "jet" (blue for none, through cyan, green and yellow, to red for the largest), the
// map Keras's Grad-CAM example uses. Scale: each map is divided by the 99th percentile of its
// magnitudes (nearest rank; its maximum where that percentile is 0) and clipped at 1, so that a few
// extreme pixels do not wash the rest out (as the SmoothGrad paper shows its maps). The image is
// drawn in grey (ITU-R 601 luma for RGB), scaled by its own minimum and maximum (a constant image
// is mid-grey), and the colour is blended over it with the given opacity:
// (1 - opacity) * grey + opacity * jet, per channel. The PNG is 8-bit RGB.
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
/// largest magnitude is drawn), of the image's height and width. Written to a temporary name and
/// renamed. Throws ShapeError when the shapes disagree or the image has not 1 or 3 channels,
/// ValueError for an opacity outside [0, 1], a scale below 1 or a picture over 2^26 pixels,
/// IOError when the file cannot be written.
void save_heatmap(const std::string& path, const Tensor& image, const Tensor& attribution,
                  const HeatmapOptions& options = {});
/// A grid: one row per image of `images` {n, height, width[, channels]}; its first column the image
/// alone (in its own colours, scaled by its minimum and maximum), then one overlay for each tensor
/// of `attributions` (each {n, height, width[, channels]}, the methods side by side), with a 2-pixel
/// white gap between the cells (not magnified): (1 + methods) * width * scale + 2 * methods pixels
/// wide, n * height * scale + 2 * (n - 1) high. Throws as save_heatmap, and ShapeError when an
/// attribution has not n rows.
void save_heatmap_grid(const std::string& path, const Tensor& images, const std::vector<Tensor>& attributions,
                       const HeatmapOptions& options = {});

/// The colour of t in [0, 1] under the jet map, as 8-bit RGB.
void jet_colour(double t, unsigned char rgb[3]);

}  // namespace myelin::explain
