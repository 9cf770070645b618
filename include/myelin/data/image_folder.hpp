// Folders of image files as datasets: Keras's image_dataset_from_directory. Files are decoded and
// resized on background threads a few batches ahead of the model, so memory stays bounded by those
// batches whatever the folder's size.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "myelin/data/dataset.hpp"
#include "myelin/data/image.hpp"

namespace myelin::data {

/// Options of image_dataset_from_directory, with Keras's names and defaults.
struct ImageFolderOptions {
  /// Empty: labels inferred from the class subfolders ("inferred"). Otherwise one integer label per
  /// image file, in the alphanumeric order of the files' paths under the folder (every subfolder).
  std::vector<int> labels;
  /// Keras's labels=None: images only, read from every subfolder, with y of zero columns ({rows, 0});
  /// for predict.
  bool unlabeled = false;
  /// "int" (y {1}: the class index), "categorical" (y {classes}: one-hot) or "binary" (y {1}: 0 or 1;
  /// exactly two classes).
  std::string label_mode = "int";
  /// With inferred labels: the classes to read, in this order (a subset of the subfolders' names).
  /// Empty: every subfolder not starting with '.', in alphanumeric order.
  std::vector<std::string> class_names;
  /// "rgb" (3 channels), "grayscale" (1) or "rgba" (4).
  std::string color_mode = "rgb";
  /// Rows per batch the dataset is made for: Python's fit/evaluate/predict use it when given no
  /// batch_size, and it sizes the decoding lookahead (two batches).
  int64_t batch_size = 32;
  /// {height, width} every image is resized to.
  std::array<int64_t, 2> image_size = {256, 256};
  /// Shuffles the file list once (with `seed`, as Keras: numpy's RandomState(seed).shuffle, so the
  /// training/validation split is Keras's own) and the rows of every epoch.
  bool shuffle = true;
  /// Seed of the file-list shuffle; without one it is drawn from set_random_seed's stream.
  std::optional<uint32_t> seed;
  /// Fraction of the files, taken from the end of the (shuffled) list, held out for validation.
  double validation_split = 0.0;
  /// "training", "validation" or "both" (image_dataset_splits_from_directory); required with
  /// validation_split, as in Keras.
  std::string subset;
  /// "bilinear" or "nearest" (tf.image.resize's, without antialiasing).
  std::string interpolation = "bilinear";
  /// Follow symbolic links to subfolders.
  bool follow_links = false;
  /// Resize the largest centred window with image_size's aspect ratio instead of stretching.
  bool crop_to_aspect_ratio = false;
  /// A file that does not decode is an IOError naming it; otherwise it is skipped, counted and named
  /// in a warning on stderr at the end of the epoch, and left out of later epochs.
  bool strict = false;
  /// Decoding threads; 0 uses num_threads() (the library's one thread setting).
  int threads = 0;
  /// Per-image limits on decoding (a header declaring more pixels is a bad file).
  ImageLimits limits;
};

/// The image files of a folder, read as a Dataset: x {height, width, channels} floats 0..255 (as
/// Keras: scale them in the model, e.g. with layers::Rescaling(1.0 / 255)), y as label_mode says
/// ({0} when unlabeled).
/// Recognised files end in .bmp, .gif, .jpeg, .jpg or .png (any case); other files are ignored, as
/// Keras does. The format is told from the file's content, so a PNG named .jpg decodes.
///
/// predict() reads it in file_paths() order (never shuffled), so predictions line up with the files.
class ImageFolderDataset : public Dataset {
 public:
  ~ImageFolderDataset() override;
  ImageFolderDataset(ImageFolderDataset&&) noexcept;
  ImageFolderDataset& operator=(ImageFolderDataset&&) noexcept;

  Shape x_shape() const override;
  Shape y_shape() const override;
  /// Files in the dataset, less those found not to decode in an earlier epoch.
  int64_t size() const override;
  /// Starts decoding the epoch's first rows. Rows are shuffled when both `shuffle` here and the
  /// dataset's shuffle option are true.
  void start_epoch(uint64_t seed, bool shuffle) override;
  /// Throws IOError naming the file for a bad file when strict.
  int64_t read(int64_t max_rows, Tensor& x, Tensor& y) override;

  /// The class names, label i being class_names()[i].
  const std::vector<std::string>& class_names() const;
  /// The files, in the dataset's order (after the file-list shuffle and split), with their labels.
  const std::vector<std::string>& file_paths() const;
  const std::vector<int>& file_labels() const;
  int64_t batch_size() const override;
  /// Files skipped so far because they did not decode, in the order met (the warning at the end of
  /// each epoch gives the reasons).
  std::vector<std::string> skipped_files() const;

 private:
  friend struct ImageFolderBuilder;
  struct Impl;
  explicit ImageFolderDataset(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Keras's image_dataset_from_directory: `directory` holds one subfolder per class (labels
/// inferred), or image files anywhere below it with options.labels giving their labels.
/// ```
/// auto train = data::image_dataset_from_directory("photos", {.image_size = {64, 64},
///     .seed = 1337, .validation_split = 0.2, .subset = "training"});
/// model.fit(train, {.epochs = 10});
/// ```
/// Throws IOError naming the folder when it is missing, holds no image files, or a class folder
/// holds none; ValueError for a bad option (naming it) and for subset "both" (use
/// image_dataset_splits_from_directory).
ImageFolderDataset image_dataset_from_directory(const std::string& directory, const ImageFolderOptions& options = {});

/// Both parts of a split folder (Keras's subset="both").
struct ImageFolderSplits {
  ImageFolderDataset training, validation;
};

/// image_dataset_from_directory with subset "both" (set here; options.subset must be empty or
/// "both" and validation_split set): the two parts never share a file.
ImageFolderSplits image_dataset_splits_from_directory(const std::string& directory, ImageFolderOptions options);

}  // namespace myelin::data
