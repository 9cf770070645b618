// `myelin images-from-idx`: writes the images of an IDX file (MNIST, Fashion-MNIST) as PNG files in
// one folder per class, the layout an image-folder dataset reads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli.hpp"
#include "myelin/data/image.hpp"

namespace cli {

namespace {
struct ImagesFromIdxArgs {
  std::string images, labels, out_dir, class_names;
  int64_t limit = -1;
};

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> names;
  std::stringstream s(list);
  for (std::string n; std::getline(s, n, ',');) {
    if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos)
      throw UserError("--class-names: '" + n + "' cannot name a folder (empty, '.', '..' or containing '/')");
    names.push_back(n);
  }
  return names;
}

void images_from_idx(const ImagesFromIdxArgs& a) {
  const myelin::Tensor images = myelin::data::read_idx(a.images);
  const myelin::Tensor labels = myelin::data::read_idx(a.labels);
  // N x H x W (grey) or N x H x W x C with C = 1, 3 or 4.
  const bool channels_last = images.ndim() == 4 && (images.dim(3) == 1 || images.dim(3) == 3 || images.dim(3) == 4);
  if (images.ndim() != 3 && !channels_last)
    throw UserError("'" + a.images + "': expected images of shape N x H x W or N x H x W x C (C = 1, 3 or 4), got " +
                    std::to_string(images.ndim()) + " dimensions");
  if (labels.ndim() != 1 || labels.dim(0) != images.dim(0))
    throw UserError("'" + a.labels + "': expected one label per image (" + std::to_string(images.dim(0)) +
                    "), got a tensor of " + std::to_string(labels.size()) + " values in " +
                    std::to_string(labels.ndim()) + " dimensions");
  const std::vector<std::string> names = a.class_names.empty() ? std::vector<std::string>{} : split_names(a.class_names);
  const int64_t n = a.limit >= 0 ? std::min(a.limit, images.dim(0)) : images.dim(0);
  const int64_t h = images.dim(1), w = images.dim(2), c = channels_last ? images.dim(3) : 1;
  const int64_t per_image = h * w * c;
  namespace fs = std::filesystem;
  int64_t written = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float label = labels.data()[i];
    if (label < 0 || label != std::floor(label) || (!names.empty() && label >= float(names.size())))
      throw UserError("'" + a.labels + "': label " + std::to_string(label) + " of image " + std::to_string(i) +
                      (names.empty() ? " is not a class number"
                                     : " has no name in --class-names (" + std::to_string(names.size()) + " given)"));
    const std::string cls = names.empty() ? std::to_string(int64_t(label)) : names[size_t(label)];
    myelin::data::Image img{h, w, c, std::vector<uint8_t>(size_t(per_image))};
    const float* px = images.data() + i * per_image;
    for (int64_t k = 0; k < per_image; ++k) {
      if (!(px[k] >= 0 && px[k] <= 255 && px[k] == std::floor(px[k])))
        throw UserError("'" + a.images + "': image " + std::to_string(i) + " holds " + std::to_string(px[k]) +
                        ", not a byte (0..255): only unsigned-byte IDX images can be written as PNG");
      img.pixels[size_t(k)] = uint8_t(px[k]);
    }
    const fs::path folder = fs::path(a.out_dir) / cls;
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) throw UserError("cannot create folder '" + folder.string() + "': " + ec.message());
    myelin::data::save_png((folder / (std::to_string(i) + ".png")).string(), img);
    ++written;
  }
  std::printf("wrote %lld PNG files to %s\n", static_cast<long long>(written), a.out_dir.c_str());
}
}  // namespace

void register_images_from_idx(CLI::App& app) {
  auto a = std::make_shared<ImagesFromIdxArgs>();
  auto* cmd = app.add_subcommand(
      "images-from-idx", "write the images of an IDX file as OUT_DIR/<class>/<index>.png, one folder per class");
  cmd->add_option("images", a->images, "IDX images (N x H x W, or N x H x W x C; .gz or raw)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("labels", a->labels, "IDX labels (N class numbers; .gz or raw)")->required()->check(CLI::ExistingFile);
  cmd->add_option("out_dir", a->out_dir, "folder to write into (created if missing)")->required();
  cmd->add_option("--limit", a->limit, "write only the first N images")->check(CLI::NonNegativeNumber);
  cmd->add_option("--class-names", a->class_names,
                  "folder names for classes 0, 1, ... separated by commas (default: the label number)");
  cmd->callback([a] { images_from_idx(*a); });
}

}  // namespace cli
