#include <algorithm>
#include <filesystem>
#include <cstring>
#include <memory>

#include "data/csv_parse.hpp"
#include "data/file_reader.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"

namespace myelin::data {

struct CsvDataset::Impl {
  Impl(const std::string& file, const CsvDatasetOptions& opts) : path(file), options(opts) {
    const std::string context = "CsvDataset('" + path + "')";
    detail::check_csv_delimiter(context, options.delimiter);
    if (options.shuffle_buffer < 1)
      throw ValueError(context + ": shuffle_buffer must be >= 1, got " + std::to_string(options.shuffle_buffer));
    if (options.chunk_bytes < 1)
      throw ValueError(context + ": chunk_bytes must be positive, got " + std::to_string(options.chunk_bytes));
    if (options.max_line_bytes < 1)
      throw ValueError(context + ": max_line_bytes must be positive, got " + std::to_string(options.max_line_bytes));
    if (!options.target_column.empty() && !options.header)
      throw ValueError(context + ": target_column \"" + options.target_column + "\" needs header=true to name the columns");
    if (detail::is_gzip(path))
      throw IOError("'" + path + "' is gzip-compressed: CsvDataset streams plain text, so decompress it first (gunzip -k '" +
                    path + "'), or load it whole with read_csv, which reads gzip");

    // The header (or the first data line) fixes the columns.
    open();
    if (options.header) {
      if (!reader->next(cells)) throw IOError("'" + path + "' has no header line");
      names = cells;
    }
    if (!reader->next(cells)) throw IOError("'" + path + "' has no data lines");
    if (!options.header)
      for (size_t c = 0; c < cells.size(); ++c) names.push_back(std::to_string(c));
    reader.reset();
    ncols = names.size();
    target = detail::csv_target_index(context, names, options.target_column, options.target_index);
    for (size_t c = 0; c < ncols; ++c) {
      if (static_cast<int64_t>(c) == target)
        target_name = names[c];
      else
        feature_names.push_back(names[c]);
    }
    features = static_cast<int64_t>(feature_names.size());
  }

  // Opens the file at its first line.
  void open() {
    reader = std::make_unique<detail::CsvRecordReader>(path, options.delimiter, 0,
                                                       static_cast<size_t>(options.max_line_bytes),
                                                       static_cast<size_t>(options.chunk_bytes));
  }

  // Rewinds to the first data row.
  void rewind() {
    open();
    if (options.header) reader->next(cells);
    reader->set_column_names(names, options.header);
    file_done = false;
    rows_read = 0;
  }

  // Parses the file's next row into dst (features, then the target); false at the end of the file.
  bool next_row(float* dst) {
    if (file_done) return false;
    if (!reader->next(cells)) {
      file_done = true;
      known_rows = rows_read;
      reader.reset();  // frees the read buffer
      return false;
    }
    detail::parse_csv_record(*reader, cells, ncols, target, options.header ? "the header" : "the first data line", dst,
                             dst + features);
    ++rows_read;
    return true;
  }

  float* pool_row(int64_t r) { return pool.data() + r * width(); }
  int64_t width() const { return features + 1; }

  std::string path;
  CsvDatasetOptions options;
  std::vector<std::string> names, feature_names;
  std::string target_name;
  size_t ncols = 0;
  int64_t target = -1;
  int64_t features = 0;

  std::unique_ptr<detail::CsvRecordReader> reader;
  std::vector<std::string> cells;
  bool started = false;
  bool file_done = true;
  int64_t rows_read = 0;
  int64_t known_rows = -1;

  bool shuffle = false;
  Rng rng{0};
  std::vector<float> pool;  // the shuffle buffer: pool_rows rows of width() floats
  int64_t pool_rows = 0;
  std::vector<float> staging;  // the rows of one read(), before they are split into x and y
};

CsvDataset::CsvDataset(const std::string& path, CsvDatasetOptions options)
    : impl_(std::make_unique<Impl>(path, options)) {}

CsvDataset::~CsvDataset() = default;

Shape CsvDataset::x_shape() const { return {impl_->features}; }
Shape CsvDataset::y_shape() const { return {1}; }
int64_t CsvDataset::size() const { return impl_->known_rows; }
const std::vector<std::string>& CsvDataset::feature_names() const { return impl_->feature_names; }
const std::string& CsvDataset::target_name() const { return impl_->target_name; }

void CsvDataset::start_epoch(uint64_t seed, bool shuffle) {
  Impl& m = *impl_;
  m.rewind();
  m.shuffle = shuffle && m.options.shuffle_buffer > 1;
  m.rng = Rng(seed);
  m.pool.clear();
  m.pool_rows = 0;
  m.started = true;
  if (m.shuffle) {
    // The buffer is reserved once: growing it by doubling would hold up to twice the rows asked for.
    // A row takes at least two bytes a cell in the file, which bounds the rows a small file can fill.
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(m.path, ec);
    const int64_t w = m.width();
    int64_t rows = m.options.shuffle_buffer;
    if (!ec) rows = std::min<int64_t>(rows, static_cast<int64_t>(file_bytes) / (2 * w) + 1);
    m.pool.reserve(static_cast<size_t>(rows * w));
    // Fill the buffer; from then on each row drawn from it is replaced by the file's next row.
    while (m.pool_rows < m.options.shuffle_buffer) {
      m.pool.resize(static_cast<size_t>((m.pool_rows + 1) * m.width()));
      if (!m.next_row(m.pool_row(m.pool_rows))) break;
      ++m.pool_rows;
    }
    m.pool.resize(static_cast<size_t>(m.pool_rows * m.width()));
  }
}

int64_t CsvDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (max_rows <= 0) throw ValueError("CsvDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  Impl& m = *impl_;
  if (!m.started) start_epoch(0, false);
  const int64_t w = m.width();
  m.staging.clear();
  int64_t n = 0;
  if (!m.shuffle) {
    while (n < max_rows) {
      m.staging.resize(static_cast<size_t>((n + 1) * w));
      if (!m.next_row(m.staging.data() + n * w)) break;
      ++n;
    }
  } else {
    while (n < max_rows && m.pool_rows > 0) {
      const int64_t k = static_cast<int64_t>(m.rng.below(static_cast<uint64_t>(m.pool_rows)));
      m.staging.insert(m.staging.end(), m.pool_row(k), m.pool_row(k) + w);
      ++n;
      if (!m.next_row(m.pool_row(k))) {
        // The file is exhausted: the buffer shrinks, its last row filling the slot.
        --m.pool_rows;
        if (k != m.pool_rows) std::memcpy(m.pool_row(k), m.pool_row(m.pool_rows), static_cast<size_t>(w) * sizeof(float));
      }
    }
  }
  x.resize({n, m.features});
  y.resize({n, 1});
  for (int64_t i = 0; i < n; ++i) {
    const float* row = m.staging.data() + i * w;
    // A file whose only column is the target has no features: x is empty, with no buffer to copy to.
    if (m.features > 0) std::memcpy(x.data() + i * m.features, row, static_cast<size_t>(m.features) * sizeof(float));
    y.data()[i] = row[m.features];
  }
  return n;
}

}  // namespace myelin::data
