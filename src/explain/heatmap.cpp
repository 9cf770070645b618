// Heat maps of attributions over their images, written as PNG (see myelin/explain/heatmap.hpp).
#include "myelin/explain/heatmap.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "myelin/data/image.hpp"
#include "myelin/error.hpp"

namespace myelin::explain {

namespace {

// One picture's dimensions: height, width and channels (1 for a 2-D tensor).
struct Dims {
  int64_t height = 0, width = 0, channels = 1;
};

// A picture's largest output: as the image decoders' default limit, so what is written reads back.
constexpr int64_t kMaxPixels = int64_t{1} << 26;

// `shape` without its first `skip` axes as {height, width[, channels]}; `what` names it in errors.
Dims picture_dims(const Shape& shape, size_t skip, const std::string& what, bool image) {
  const size_t rank = shape.size() - std::min(skip, shape.size());
  const std::string expected = skip ? "{n, height, width[, channels]}" : "{height, width[, channels]}";
  if (shape.size() < skip || (rank != 2 && rank != 3))
    throw ShapeError(what + ": expected " + expected + ", got " + shape_to_string(shape));
  Dims d{shape[skip], shape[skip + 1], rank == 3 ? shape[skip + 2] : 1};
  if (d.height < 1 || d.width < 1 || d.channels < 1)
    throw ShapeError(what + ": " + shape_to_string(shape) + " holds no pixels");
  if (image && d.channels != 1 && d.channels != 3)
    throw ShapeError(what + ": " + std::to_string(d.channels) + " channels in " + shape_to_string(shape) +
                     "; an image has 1 (grey) or 3 (RGB)");
  return d;
}

void check_options(const HeatmapOptions& o) {
  if (!(o.opacity >= 0.0 && o.opacity <= 1.0))
    throw ValueError("HeatmapOptions::opacity must be in [0, 1], got " + std::to_string(o.opacity));
  if (o.scale < 1) throw ValueError("HeatmapOptions::scale must be at least 1, got " + std::to_string(o.scale));
}

void check_same_size(const Dims& image, const Dims& attribution, const Shape& image_shape, const Shape& attr_shape,
                     const std::string& attr_name) {
  if (image.height != attribution.height || image.width != attribution.width)
    throw ShapeError(attr_name + " " + shape_to_string(attr_shape) + " is " + std::to_string(attribution.height) + " x " +
                     std::to_string(attribution.width) + " pixels but the image " + shape_to_string(image_shape) +
                     " is " + std::to_string(image.height) + " x " + std::to_string(image.width));
}

// The image's pixels as grey in [0, 1], scaled by the grey values' own minimum and maximum (ITU-R
// 601 luma for RGB); a constant image is mid-grey.
std::vector<float> grey_levels(const float* px, const Dims& d) {
  const int64_t n = d.height * d.width;
  std::vector<float> grey(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* p = px + i * d.channels;
    grey[size_t(i)] = d.channels == 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
  }
  const auto [lo, hi] = std::minmax_element(grey.begin(), grey.end());
  const float min = *lo, range = *hi - *lo;
  for (float& g : grey) g = range > 0 ? (g - min) / range : 0.5f;
  return grey;
}

// The attribution's largest magnitude over channels per pixel, divided by the 99th percentile of
// those magnitudes (nearest rank; the maximum where that is 0) and clipped at 1. All zeros stay 0.
std::vector<float> heat_levels(const float* a, const Dims& d) {
  const int64_t n = d.height * d.width;
  std::vector<float> heat(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float m = 0;
    for (int64_t c = 0; c < d.channels; ++c) m = std::max(m, std::fabs(a[i * d.channels + c]));
    heat[size_t(i)] = m;
  }
  std::vector<float> sorted = heat;
  const size_t rank = std::min(size_t(std::ceil(0.99 * double(n))), size_t(n)) - 1;
  std::nth_element(sorted.begin(), sorted.begin() + ptrdiff_t(rank), sorted.end());
  float top = sorted[rank];
  if (!(top > 0)) top = *std::max_element(heat.begin(), heat.end());
  for (float& h : heat) h = top > 0 ? std::min(h / top, 1.0f) : 0.0f;
  return heat;
}

uint8_t to_byte(double v) { return uint8_t(std::lround(std::clamp(v, 0.0, 255.0))); }

// Paints one pixel as a scale x scale block at cell pixel (y, x) of the picture whose top-left is (top, left).
void paint(data::Image& out, int64_t top, int64_t left, int64_t y, int64_t x, int scale, const uint8_t rgb[3]) {
  for (int dy = 0; dy < scale; ++dy) {
    uint8_t* row = out.pixels.data() + ((top + y * scale + dy) * out.width + left + x * scale) * 3;
    for (int dx = 0; dx < scale; ++dx)
      for (int c = 0; c < 3; ++c) row[dx * 3 + c] = rgb[c];
  }
}

// The overlay of one attribution on one image, drawn into `out` at (top, left).
void draw_overlay(data::Image& out, int64_t top, int64_t left, const float* image, const Dims& id, const float* attr,
                  const Dims& ad, const HeatmapOptions& o) {
  const std::vector<float> grey = grey_levels(image, id);
  const std::vector<float> heat = heat_levels(attr, ad);
  for (int64_t y = 0; y < id.height; ++y)
    for (int64_t x = 0; x < id.width; ++x) {
      const size_t i = size_t(y * id.width + x);
      uint8_t jet[3], rgb[3];
      jet_colour(heat[i], jet);
      for (int c = 0; c < 3; ++c) rgb[c] = to_byte((1.0 - o.opacity) * 255.0 * grey[i] + o.opacity * jet[c]);
      paint(out, top, left, y, x, o.scale, rgb);
    }
}

// The image alone, in its own colours (grey or RGB), scaled by its minimum and maximum over all channels.
void draw_image(data::Image& out, int64_t top, int64_t left, const float* image, const Dims& d, int scale) {
  const int64_t n = d.height * d.width * d.channels;
  const auto [lo, hi] = std::minmax_element(image, image + n);
  const float min = *lo, range = *hi - *lo;
  for (int64_t y = 0; y < d.height; ++y)
    for (int64_t x = 0; x < d.width; ++x) {
      const float* p = image + (y * d.width + x) * d.channels;
      uint8_t rgb[3];
      for (int c = 0; c < 3; ++c) rgb[c] = to_byte(255.0 * (range > 0 ? (p[d.channels == 3 ? c : 0] - min) / range : 0.5));
      paint(out, top, left, y, x, scale, rgb);
    }
}

// A white RGB picture of the given size, refused when larger than kMaxPixels.
data::Image blank(int64_t height, int64_t width, const std::string& path) {
  if (height > kMaxPixels / width)
    throw ValueError("heat map '" + path + "' would be " + std::to_string(height) + " x " + std::to_string(width) +
                     " pixels, more than " + std::to_string(kMaxPixels) + ": use a smaller scale");
  return data::Image{height, width, 3, std::vector<uint8_t>(size_t(height * width * 3), 255)};
}

}  // namespace

void jet_colour(double t, unsigned char rgb[3]) {
  // Matplotlib's jet as three clipped ramps: dark blue (0, 0, 0.5) at 0, through blue, cyan,
  // yellow and red, to dark red (0.5, 0, 0) at 1.
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  const double r = 1.5 - std::fabs(4 * t - 3), g = 1.5 - std::fabs(4 * t - 2), b = 1.5 - std::fabs(4 * t - 1);
  rgb[0] = to_byte(255.0 * std::clamp(r, 0.0, 1.0));
  rgb[1] = to_byte(255.0 * std::clamp(g, 0.0, 1.0));
  rgb[2] = to_byte(255.0 * std::clamp(b, 0.0, 1.0));
}

void save_heatmap(const std::string& path, const Tensor& image, const Tensor& attribution, const HeatmapOptions& options) {
  check_options(options);
  const Dims id = picture_dims(image.shape(), 0, "save_heatmap: image", true);
  const Dims ad = picture_dims(attribution.shape(), 0, "save_heatmap: attribution", false);
  check_same_size(id, ad, image.shape(), attribution.shape(), "save_heatmap: attribution");
  data::Image out = blank(id.height * options.scale, id.width * options.scale, path);
  draw_overlay(out, 0, 0, image.data(), id, attribution.data(), ad, options);
  data::save_png(path, out);
}

void save_heatmap_grid(const std::string& path, const Tensor& images, const std::vector<Tensor>& attributions,
                       const HeatmapOptions& options) {
  check_options(options);
  const Dims id = picture_dims(images.shape(), 1, "save_heatmap_grid: images", true);
  const int64_t n = images.dim(0);
  if (n < 1) throw ShapeError("save_heatmap_grid: images " + shape_to_string(images.shape()) + " holds no image");
  std::vector<Dims> ad;
  for (size_t k = 0; k < attributions.size(); ++k) {
    const std::string what = "save_heatmap_grid: attributions[" + std::to_string(k) + "]";
    const Tensor& a = attributions[k];
    ad.push_back(picture_dims(a.shape(), 1, what, false));
    if (a.dim(0) != n)
      throw ShapeError(what + " " + shape_to_string(a.shape()) + " has " + std::to_string(a.dim(0)) +
                       " rows but images " + shape_to_string(images.shape()) + " has " + std::to_string(n));
    check_same_size(id, ad.back(), images.shape(), a.shape(), what);
  }
  constexpr int64_t gap = 2;
  const int64_t cell_h = id.height * options.scale, cell_w = id.width * options.scale;
  const int64_t columns = 1 + int64_t(attributions.size());
  data::Image out = blank(n * cell_h + (n - 1) * gap, columns * cell_w + (columns - 1) * gap, path);
  const int64_t image_size = id.height * id.width * id.channels;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t top = r * (cell_h + gap);
    const float* image = images.data() + r * image_size;
    draw_image(out, top, 0, image, id, options.scale);
    for (size_t k = 0; k < attributions.size(); ++k) {
      const float* attr = attributions[k].data() + r * ad[k].height * ad[k].width * ad[k].channels;
      draw_overlay(out, top, int64_t(k + 1) * (cell_w + gap), image, id, attr, ad[k], options);
    }
  }
  data::save_png(path, out);
}

}  // namespace myelin::explain
