// Datasets: sources of training batches that need not fit in memory. fit, evaluate and predict
// accept a Dataset beside in-memory tensors; the model reads it batch by batch, on a background
// thread while the previous batch trains.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "myelin/data_arg.hpp"
#include "myelin/tensor.hpp"

namespace myelin::data {

/// A source of (x, y) rows, or (x, y, sample_weight) rows as Keras's datasets yield, read in order,
/// one epoch at a time. Implementations: InMemoryDataset,
/// IdxDataset (memory-mapped IDX files), CsvDataset (streamed CSV with a bounded shuffle buffer) and
/// GeneratorDataset (batches produced by user code).
///
/// A Dataset is used by one thread at a time: the model calls start_epoch and then read until it
/// returns 0. Both may run on the model's background thread.
class Dataset {
 public:
  virtual ~Dataset() = default;

  /// Per-sample shapes of x and y (without the batch dimension), e.g. {28, 28, 1} and {1}; of the
  /// first array when there are several.
  virtual Shape x_shape() const = 0;
  virtual Shape y_shape() const = 0;
  /// Per-sample shapes of every input and target array (for models with several inputs or outputs,
  /// in the model's order); one each by default.
  virtual std::vector<Shape> x_shapes() const { return {x_shape()}; }
  virtual std::vector<Shape> y_shapes() const { return {y_shape()}; }
  /// Rows per epoch, or -1 when unknown until the epoch ends (a generator; a CSV file before its
  /// first full pass).
  virtual int64_t size() const = 0;

  /// Rewinds to the first row. With shuffle, the epoch's order is drawn from `seed`: the same seed
  /// gives the same order.
  virtual void start_epoch(uint64_t seed, bool shuffle) = 0;

  /// Writes up to `max_rows` next rows into x ({rows, x_shape...}) and y ({rows, y_shape...}),
  /// resizing them, and returns how many rows it wrote: fewer than max_rows only at the end of the
  /// epoch, 0 once the epoch is over. Throws IOError naming the file and row on bad data, and
  /// ValueError for max_rows < 1. Reading before any start_epoch reads an unshuffled first epoch.
  virtual int64_t read(int64_t max_rows, Tensor& x, Tensor& y) = 0;
  /// read() for every array: x and y are given one tensor per input and target array (resized as
  /// read() resizes them). The default reads the one x and y through read().
  virtual int64_t read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y);

  /// How many sample-weight arrays each row carries: 0 (none, the default), 1 (one weight serving
  /// every output) or one per y array. fit and evaluate use them exactly as their sample_weight
  /// argument: each sample's loss (and weighted_metrics) is multiplied by its weight; weights must be
  /// finite and >= 0 (checked as each batch is read).
  virtual size_t sample_weight_count() const { return 0; }
  /// read_arrays() that also writes the rows' sample weights into w (sample_weight_count() tensors of
  /// shape {rows}). The default reads through read_arrays() and leaves w empty.
  virtual int64_t read_weighted(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y,
                                std::vector<Tensor>& w);

  /// The batch size the dataset was made for (as Keras's batched datasets carry one, e.g.
  /// image_dataset_from_directory's batch_size), or 0 for none. The Python fit, evaluate and predict
  /// use it when given no batch_size.
  virtual int64_t batch_size() const { return 0; }
};

/// Rows of tensors already in memory, shuffled by a full permutation each epoch (what fit(x, y)
/// does). The tensors are shared, not copied.
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(Tensor x, Tensor y);
  /// One tensor per model input and per output, in the model's order (every one with the same rows).
  InMemoryDataset(std::vector<Tensor> x, std::vector<Tensor> y);
  /// With per-sample weights (Keras's (x, y, sample_weight)): one {rows} (or {rows, 1}) tensor for
  /// every output, or one per y array. Throws ShapeError for a wrong count, shape or row count.
  InMemoryDataset(std::vector<Tensor> x, std::vector<Tensor> y, std::vector<Tensor> sample_weight);
  Shape x_shape() const override;
  Shape y_shape() const override;
  std::vector<Shape> x_shapes() const override;
  std::vector<Shape> y_shapes() const override;
  int64_t size() const override { return x_[0].rows(); }
  void start_epoch(uint64_t seed, bool shuffle) override;
  /// Throws ValueError for a dataset of several arrays (use read_arrays).
  int64_t read(int64_t max_rows, Tensor& x, Tensor& y) override;
  int64_t read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y) override;
  size_t sample_weight_count() const override { return w_.size(); }
  int64_t read_weighted(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y,
                        std::vector<Tensor>& w) override;

 private:
  std::vector<Tensor> x_, y_, w_;  // w_ as {rows}
  std::vector<Tensor> unused_w_;   // read_arrays's weights, dropped
  std::vector<int64_t> order_;
  int64_t next_ = 0;
};

/// Options of IdxDataset.
struct IdxDatasetOptions {
  /// Multiplies every image value (1/255 maps bytes to [0, 1], as users do by hand with read_idx).
  float scale = 1.0f / 255.0f;
  /// Appends a channel axis of 1 ({28, 28} images become {28, 28, 1}) for Conv2D models.
  bool add_channel = false;
};

/// Images and labels in uncompressed IDX files (MNIST, Fashion-MNIST), read through a memory map:
/// only the pages of the rows a batch needs are brought in, and the operating system may drop them
/// again, so resident memory stays small whatever the file size. Shuffling is a full permutation of
/// row indices (8 bytes a row). Labels become {rows, 1} float class indices.
///
/// Throws IOError naming the file for a gzip-compressed file (decompress it first: a memory map
/// needs the raw bytes), a bad header, a file shorter than its header says, or image and label
/// files with different row counts.
class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path, IdxDatasetOptions options = {});
  ~IdxDataset() override;
  IdxDataset(const IdxDataset&) = delete;
  IdxDataset& operator=(const IdxDataset&) = delete;
  Shape x_shape() const override;
  Shape y_shape() const override;
  int64_t size() const override;
  void start_epoch(uint64_t seed, bool shuffle) override;
  int64_t read(int64_t max_rows, Tensor& x, Tensor& y) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Options of CsvDataset. Column choice and parsing follow CsvOptions (see csv.hpp).
struct CsvDatasetOptions {
  char delimiter = ',';
  bool header = true;
  /// Target column by name (needs a header); takes precedence over target_index.
  std::string target_column;
  /// Target column by 0-based index; negative counts from the end (-1: the last column).
  int target_index = -1;
  /// Rows held for shuffling, as tf.data's shuffle(buffer_size): each row returned is drawn at
  /// random from the next `shuffle_buffer` rows of the file. Memory is bounded by this buffer, not by
  /// the file. 1 (or shuffle off) reads in file order.
  int64_t shuffle_buffer = 10000;
  /// Bytes read from the file at a time.
  int64_t chunk_bytes = 1 << 20;
  /// Longest line accepted, in bytes (as CsvOptions::max_line_bytes).
  int64_t max_line_bytes = int64_t{1} << 20;
};

/// A CSV file (plain, not compressed) streamed in chunks: it is never held in memory whole, so it may
/// be larger than memory. Cells are parsed as by read_csv, with the same errors naming file, line and
/// column. size() is -1 until the first epoch has read the whole file.
class CsvDataset : public Dataset {
 public:
  explicit CsvDataset(const std::string& path, CsvDatasetOptions options = {});
  ~CsvDataset() override;
  CsvDataset(const CsvDataset&) = delete;
  CsvDataset& operator=(const CsvDataset&) = delete;
  Shape x_shape() const override;
  Shape y_shape() const override;
  int64_t size() const override;
  void start_epoch(uint64_t seed, bool shuffle) override;
  int64_t read(int64_t max_rows, Tensor& x, Tensor& y) override;
  /// Names of the feature columns and of the target column.
  const std::vector<std::string>& feature_names() const;
  const std::string& target_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One batch produced by user code: a tensor each, or for several inputs or outputs a list of
/// tensors in the model's order (`Batch{{xa, xb}, {y1, y2}}`; maps by name are not accepted here).
/// sample_weight, for a dataset declared with sample weights, holds the rows' weights: one {rows}
/// tensor, or a list of one per y array (`Batch{x, y, w}`).
struct Batch {
  DataArg x, y;
  DataArg sample_weight;
};

/// Batches produced by a function, as Keras's fit(generator): `next(epoch)` is called repeatedly and
/// returns the epoch's next batch, or std::nullopt when the epoch is over. Batches may have any number
/// of rows; the model re-cuts them to its batch_size. Shuffling is the function's business.
class GeneratorDataset : public Dataset {
 public:
  using Next = std::function<std::optional<Batch>(int epoch)>;
  /// x_shape and y_shape are the per-sample shapes every batch must have (checked, naming the batch).
  GeneratorDataset(Next next, Shape x_shape, Shape y_shape);
  /// Per-sample shapes of each array of x and of y, for batches of several inputs or outputs, and how
  /// many sample-weight arrays every batch carries (0, 1, or one per y array).
  struct ArrayShapes {
    std::vector<Shape> x, y;
    size_t sample_weights = 0;
  };
  /// `GeneratorDataset(next, {.x = {{4}, {2}}, .y = {{1}, {3}}})`: every batch's x and y are lists of
  /// tensors with these per-sample shapes, in the model's input and output order. With
  /// `.sample_weights = 1` every batch also carries Batch::sample_weight ({rows}); a batch without
  /// it, or with it where none was declared, is a ValueError naming the batch.
  GeneratorDataset(Next next, ArrayShapes shapes);
  Shape x_shape() const override { return x_shapes_[0]; }
  Shape y_shape() const override { return y_shapes_[0]; }
  std::vector<Shape> x_shapes() const override { return x_shapes_; }
  std::vector<Shape> y_shapes() const override { return y_shapes_; }
  int64_t size() const override { return -1; }
  void start_epoch(uint64_t seed, bool shuffle) override;
  /// Throws ValueError for a dataset of several arrays (use read_arrays).
  int64_t read(int64_t max_rows, Tensor& x, Tensor& y) override;
  int64_t read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y) override;
  size_t sample_weight_count() const override { return w_count_; }
  int64_t read_weighted(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y,
                        std::vector<Tensor>& w) override;

 private:
  void take_batch(Batch batch);
  Next next_;
  std::vector<Shape> x_shapes_, y_shapes_;
  size_t w_count_ = 0;
  std::vector<Tensor> unused_w_;  // read_arrays's weights, dropped
  int epoch_ = -1;
  int64_t batch_index_ = 0;
  std::vector<Tensor> pending_;  // the current batch's x, y then weight arrays, of which rows [offset_, rows) are unread
  bool has_pending_ = false;
  int64_t offset_ = 0;
  bool done_ = false;
};

}  // namespace myelin::data
