#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <vector>

#include "data/dataset_shapes.hpp"
#include "data/idx_format.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"

namespace myelin::data {

namespace {

// A whole file mapped read-only; the mapping (not a copy) is what the rows are read from.
class MappedIdxFile {
 public:
  explicit MappedIdxFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IOError("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw IOError("cannot read '" + path + "': " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw IOError("cannot read '" + path + "': it is a directory, not a file");
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IOError("cannot map '" + path + "': not a regular file (IdxDataset memory-maps its files)");
    }
    size_ = static_cast<int64_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);
      if (p == MAP_FAILED) throw IOError("cannot map '" + path + "': " + std::strerror(err));
      data_ = static_cast<const unsigned char*>(p);
    } else {
      ::close(fd);
    }
    parse_header();
  }
  ~MappedIdxFile() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), static_cast<size_t>(size_));
  }
  MappedIdxFile(const MappedIdxFile&) = delete;
  MappedIdxFile& operator=(const MappedIdxFile&) = delete;

  const std::string& path() const { return path_; }
  const detail::IdxHeader& header() const { return header_; }
  int64_t rows() const { return header_.shape[0]; }
  int64_t row_elements() const { return rows() ? header_.count / rows() : 0; }
  /// Converts row `r` into `out` (row_elements() floats).
  void convert_row(int64_t r, float* out, float scale) const {
    const int64_t n = row_elements();
    detail::idx_convert(header_.type->code, data_ + header_.header_bytes + r * n * header_.type->bytes, n, out, scale);
  }
  /// Tells the kernel how the rows will be read: in order (read ahead) or shuffled (don't).
  void advise(bool random) const {
    if (data_) ::madvise(const_cast<unsigned char*>(data_), static_cast<size_t>(size_), random ? MADV_RANDOM : MADV_SEQUENTIAL);
  }

 private:
  void parse_header() {
    if (size_ >= 2 && data_[0] == 0x1f && data_[1] == 0x8b)
      throw IOError("'" + path_ + "' is gzip-compressed: IdxDataset memory-maps the raw bytes, so decompress it first " +
                    "(gunzip -k '" + path_ + "'), or load it whole with read_idx, which reads gzip");
    if (size_ < 4)
      throw IOError("'" + path_ + "' is truncated: it ends at byte " + std::to_string(size_) +
                    ", but the IDX magic number needs 4 bytes from byte 0");
    const detail::IdxElementType* type = nullptr;
    int ndim = 0;
    detail::check_idx_magic(path_, data_, type, ndim);
    if (size_ < 4 + 4 * int64_t{ndim})
      throw IOError("'" + path_ + "' is truncated: it ends at byte " + std::to_string(size_) + ", but the IDX header's " +
                    std::to_string(ndim) + " dimension sizes need " + std::to_string(4 * ndim) + " bytes from byte 4");
    header_ = detail::idx_header(path_, type, ndim, data_ + 4);
    const int64_t present = size_ - header_.header_bytes;
    if (present < header_.data_bytes) throw IOError(detail::idx_truncated(path_, header_, present));
    if (present > header_.data_bytes) throw IOError(detail::idx_trailing(path_, header_, present - header_.data_bytes));
  }

  std::string path_;
  const unsigned char* data_ = nullptr;
  int64_t size_ = 0;
  detail::IdxHeader header_;
};

}  // namespace

struct IdxDataset::Impl {
  Impl(const std::string& images_path, const std::string& labels_path, IdxDatasetOptions opts)
      : images(images_path), labels(labels_path), options(opts) {
    if (labels.header().shape.size() != 1 &&
        !(labels.header().shape.size() == 2 && labels.header().shape[1] == 1))
      throw IOError("'" + labels_path + "' should hold one label per row (shape (n) or (n, 1)), holds shape " +
                    shape_to_string(labels.header().shape));
    if (images.rows() != labels.rows())
      throw IOError("'" + images_path + "' holds " + std::to_string(images.rows()) + " images but '" + labels_path +
                    "' holds " + std::to_string(labels.rows()) + " labels");
    x_shape = detail::sample_shape(images.header().shape);
    if (options.add_channel) x_shape.push_back(1);
  }

  MappedIdxFile images, labels;
  IdxDatasetOptions options;
  Shape x_shape;
  std::vector<int64_t> order;  // empty: file order
  int64_t next = 0;
  bool started = false;
};

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path, IdxDatasetOptions options)
    : impl_(std::make_unique<Impl>(images_path, labels_path, options)) {}

IdxDataset::~IdxDataset() = default;

Shape IdxDataset::x_shape() const { return impl_->x_shape; }
Shape IdxDataset::y_shape() const { return {1}; }
int64_t IdxDataset::size() const { return impl_->images.rows(); }

void IdxDataset::start_epoch(uint64_t seed, bool shuffle) {
  Impl& m = *impl_;
  m.order.clear();
  if (shuffle) {
    // The same permutation InMemoryDataset and fit(x, y) draw from this seed.
    m.order.resize(static_cast<size_t>(m.images.rows()));
    std::iota(m.order.begin(), m.order.end(), int64_t{0});
    Rng rng(seed);
    rng.shuffle(m.order);
  }
  m.images.advise(shuffle);
  m.labels.advise(shuffle);
  m.next = 0;
  m.started = true;
}

int64_t IdxDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (max_rows <= 0) throw ValueError("IdxDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  Impl& m = *impl_;
  if (!m.started) start_epoch(0, false);
  const int64_t rows = std::min(max_rows, m.images.rows() - m.next);
  x.resize(detail::batch_shape(rows, m.x_shape));
  y.resize({rows, 1});
  const int64_t per_row = m.images.row_elements();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = m.order.empty() ? m.next + i : m.order[static_cast<size_t>(m.next + i)];
    m.images.convert_row(r, x.data() + i * per_row, m.options.scale);
    m.labels.convert_row(r, y.data() + i, 1.0f);
  }
  m.next += rows;
  return rows;
}

}  // namespace myelin::data
