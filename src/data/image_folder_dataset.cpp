// ImageFolderDataset: the epoch's files are decoded by a pool of worker threads into a ring of
// `window` slots ahead of the reader. A worker claims the next position only while it is less than
// `window` ahead of the position being read, so memory is `window` images whatever the folder's size,
// and rows come out in the epoch's order whatever the thread count (results do not depend on it).
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "dataset_shapes.hpp"
#include "global_seed.hpp"
#include "image_folder_index.hpp"
#include "kernels/cpu/image.hpp"
#include "myelin/data/image_folder.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"
#include "myelin/threading.hpp"

namespace myelin::data {

struct ImageFolderDataset::Impl {
  ImageFolderOptions options;
  ImageFolderIndex index;
  int channels = 3;
  Shape x_shape, y_shape;
  kernels::ResizeInterpolation interpolation = kernels::ResizeInterpolation::bilinear;
  int64_t row_elements = 0;

  std::vector<char> bad;              // per file: found not to decode in an earlier epoch
  std::vector<std::string> skipped;        // paths, in the order met, over all epochs
  std::vector<std::string> epoch_skipped;  // this epoch's reasons (each naming its file)

  // The epoch, guarded by mutex.
  struct Slot {
    std::vector<float> pixels;
    int64_t position = -1;  // the epoch position decoded into it, once ready
    bool ready = false;
    std::string error;  // empty when the file decoded
  };
  std::vector<int64_t> order;  // file indices of the epoch
  std::vector<Slot> slots;
  int64_t read_position = 0, next_claim = 0;
  int busy = 0;
  bool started = false, stop = false, end_reported = false;
  std::mutex mutex;
  std::condition_variable work_cv, ready_cv;
  std::vector<std::thread> workers;

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    work_cv.notify_all();
    for (auto& t : workers) t.join();
  }

  // Decodes file `f` into `out` (row_elements floats); returns the reason it could not, or "".
  std::string decode(int64_t f, std::vector<float>& out, std::vector<float>& scratch) const {
    const std::string& path = index.paths[size_t(f)];
    Image image;
    try {
      image = load_image(path, channels, options.limits);
    } catch (const Error& e) {
      return e.what();
    }
    const int64_t h = options.image_size[0], w = options.image_size[1];
    const size_t n = image.pixels.size();
    float* dst = out.data();
    kernels::ResizeWindow r{.batch = 1, .in_h = image.height, .in_w = image.width, .channels = channels,
                            .top = 0, .left = 0, .window_h = image.height, .window_w = image.width,
                            .out_h = h, .out_w = w, .interpolation = interpolation};
    if (options.crop_to_aspect_ratio) kernels::set_aspect_ratio_window(r);
    const bool same = r.window_h == image.height && r.window_w == image.width && h == image.height && w == image.width;
    float* src = same ? dst : (scratch.resize(n), scratch.data());
    for (size_t i = 0; i < n; ++i) src[i] = float(image.pixels[i]);
    if (!same) kernels::resize_forward(r, src, dst);
    return {};
  }

  void worker() {
    std::vector<float> scratch;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] {
        return stop || (next_claim < int64_t(order.size()) && next_claim < read_position + int64_t(slots.size()));
      });
      if (stop) return;
      const int64_t p = next_claim++;
      Slot& slot = slots[size_t(p % int64_t(slots.size()))];
      const int64_t f = order[size_t(p)];
      ++busy;
      lock.unlock();
      // The slot is this worker's alone until it is marked ready: the reader has consumed its last
      // position, and start_epoch waits for busy workers before touching slots.
      std::string error = decode(f, slot.pixels, scratch);
      lock.lock();
      --busy;
      slot.error = std::move(error);
      slot.position = p;
      slot.ready = true;
      ready_cv.notify_all();
    }
  }

  void report_epoch_end() {
    if (end_reported || epoch_skipped.empty()) return;
    end_reported = true;
    std::string msg = "image_dataset_from_directory: skipped " + std::to_string(epoch_skipped.size()) +
                      " file(s) that did not decode (left out of later epochs; strict=true makes this an error):";
    for (size_t i = 0; i < std::min<size_t>(epoch_skipped.size(), 5); ++i) msg += "\n  " + epoch_skipped[i];
    if (epoch_skipped.size() > 5) msg += "\n  ...";
    std::cerr << msg << std::endl;
  }
};

struct ImageFolderBuilder {
  static ImageFolderDataset make(const ImageFolderOptions& o, ImageFolderIndex index) {
    auto m = std::make_unique<ImageFolderDataset::Impl>();
    m->options = o;
    m->channels = o.color_mode == "grayscale" ? 1 : o.color_mode == "rgba" ? 4 : 3;
    m->interpolation =
        o.interpolation == "nearest" ? kernels::ResizeInterpolation::nearest : kernels::ResizeInterpolation::bilinear;
    m->x_shape = {o.image_size[0], o.image_size[1], m->channels};
    m->row_elements = o.image_size[0] * o.image_size[1] * m->channels;
    m->y_shape = o.unlabeled                      ? Shape{0}
                 : o.label_mode == "categorical" ? Shape{int64_t(index.class_names.size())}
                                                 : Shape{1};
    m->bad.assign(index.paths.size(), 0);
    m->index = std::move(index);
    return ImageFolderDataset(std::move(m));
  }
};

namespace {

void check_options(const std::string& directory, const ImageFolderOptions& o) {
  const std::string where = "image_dataset_from_directory('" + directory + "'): ";
  auto one_of = [&](const std::string& name, const std::string& v, std::initializer_list<const char*> allowed) {
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return;
      list += (list.empty() ? "" : ", ") + std::string("\"") + a + "\"";
    }
    throw ValueError(where + name + " must be one of " + list + ", got \"" + v + "\"");
  };
  one_of("label_mode", o.label_mode, {"int", "categorical", "binary"});
  one_of("color_mode", o.color_mode, {"rgb", "grayscale", "rgba"});
  one_of("interpolation", o.interpolation, {"bilinear", "nearest"});
  one_of("subset", o.subset, {"", "training", "validation", "both"});
  if (o.batch_size < 1) throw ValueError(where + "batch_size must be positive, got " + std::to_string(o.batch_size));
  if (o.image_size[0] < 1 || o.image_size[1] < 1 || o.image_size[0] > 65536 || o.image_size[1] > 65536)
    throw ValueError(where + "image_size must be two sizes in 1..65536, got " + std::to_string(o.image_size[0]) +
                     "x" + std::to_string(o.image_size[1]));
  if (o.threads < 0) throw ValueError(where + "threads must be >= 0, got " + std::to_string(o.threads));
  if (o.validation_split != 0.0 && !(o.validation_split > 0.0 && o.validation_split < 1.0))
    throw ValueError(where + "validation_split must be between 0 and 1, got " + std::to_string(o.validation_split));
  if ((o.validation_split != 0.0) != !o.subset.empty())
    throw ValueError(where + "subset and validation_split go together: set both or neither");
  if (o.validation_split != 0.0 && o.shuffle && !o.seed)
    throw ValueError(where + "a seed is needed with validation_split and shuffle, so that the training and "
                             "validation parts do not overlap between calls");
}

ImageFolderIndex checked_index(const std::string& directory, const ImageFolderOptions& o) {
  check_options(directory, o);
  ImageFolderIndex index = index_image_folder(directory, o, o.seed ? *o.seed : uint32_t(next_global_seed()));
  if (o.label_mode == "binary" && !o.unlabeled && index.class_names.size() != 2)
    throw ValueError("image_dataset_from_directory('" + directory + "'): label_mode \"binary\" needs exactly 2 classes, found " +
                     std::to_string(index.class_names.size()));
  if (o.label_mode == "categorical")
    for (size_t i = 0; i < index.labels.size(); ++i)
      if (index.labels[i] >= int(index.class_names.size()))
        throw ValueError("image_dataset_from_directory('" + directory + "'): label " + std::to_string(index.labels[i]) +
                         " of '" + index.paths[i] + "' is not below the " + std::to_string(index.class_names.size()) +
                         " classes label_mode \"categorical\" one-hot encodes");
  return index;
}

}  // namespace

ImageFolderDataset image_dataset_from_directory(const std::string& directory, const ImageFolderOptions& options) {
  if (options.subset == "both")
    throw ValueError("image_dataset_from_directory('" + directory +
                     "'): subset \"both\" gives two datasets: call image_dataset_splits_from_directory");
  ImageFolderIndex index = checked_index(directory, options);
  if (!options.subset.empty()) index = split_part(index, options.validation_split, options.subset == "validation");
  return ImageFolderBuilder::make(options, std::move(index));
}

ImageFolderSplits image_dataset_splits_from_directory(const std::string& directory, ImageFolderOptions options) {
  if (!options.subset.empty() && options.subset != "both")
    throw ValueError("image_dataset_splits_from_directory('" + directory + "'): subset must be \"both\" or empty, got \"" +
                     options.subset + "\"");
  options.subset = "both";
  const ImageFolderIndex index = checked_index(directory, options);
  return {ImageFolderBuilder::make(options, split_part(index, options.validation_split, false)),
          ImageFolderBuilder::make(options, split_part(index, options.validation_split, true))};
}

ImageFolderDataset::ImageFolderDataset(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ImageFolderDataset::~ImageFolderDataset() = default;
ImageFolderDataset::ImageFolderDataset(ImageFolderDataset&&) noexcept = default;
ImageFolderDataset& ImageFolderDataset::operator=(ImageFolderDataset&&) noexcept = default;

Shape ImageFolderDataset::x_shape() const { return impl_->x_shape; }
Shape ImageFolderDataset::y_shape() const { return impl_->y_shape; }
const std::vector<std::string>& ImageFolderDataset::class_names() const { return impl_->index.class_names; }
const std::vector<std::string>& ImageFolderDataset::file_paths() const { return impl_->index.paths; }
const std::vector<int>& ImageFolderDataset::file_labels() const { return impl_->index.labels; }
int64_t ImageFolderDataset::batch_size() const { return impl_->options.batch_size; }

int64_t ImageFolderDataset::size() const {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  return int64_t(std::count(m.bad.begin(), m.bad.end(), 0));
}

std::vector<std::string> ImageFolderDataset::skipped_files() const {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  return m.skipped;
}

void ImageFolderDataset::start_epoch(uint64_t seed, bool shuffle) {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mutex);
  // Stop claiming and let the workers finish what they hold before the slots change hands.
  m.next_claim = int64_t(m.order.size());
  m.ready_cv.wait(lock, [&] { return m.busy == 0; });
  m.order.clear();
  for (int64_t f = 0; f < int64_t(m.bad.size()); ++f)
    if (!m.bad[size_t(f)]) m.order.push_back(f);
  if (shuffle && m.options.shuffle) {
    Rng rng(seed);
    rng.shuffle(m.order);
  }
  const int64_t window = std::max<int64_t>(1, std::min<int64_t>(2 * m.options.batch_size, int64_t(m.order.size())));
  if (int64_t(m.slots.size()) != window) m.slots.resize(size_t(window));
  for (auto& s : m.slots) {
    s.ready = false;
    s.position = -1;
    s.pixels.resize(size_t(m.row_elements));
  }
  m.read_position = 0;
  m.next_claim = 0;
  m.epoch_skipped.clear();
  m.end_reported = false;
  m.started = true;
  if (m.workers.empty()) {
    const int threads = m.options.threads > 0 ? m.options.threads : std::max(1, num_threads());
    for (int t = 0; t < threads; ++t) m.workers.emplace_back([&m] { m.worker(); });
  }
  lock.unlock();
  m.work_cv.notify_all();
}

int64_t ImageFolderDataset::read(int64_t max_rows, Tensor& x, Tensor& y) {
  if (max_rows <= 0)
    throw ValueError("ImageFolderDataset::read: max_rows must be positive, got " + std::to_string(max_rows));
  Impl& m = *impl_;
  if (!m.started) start_epoch(0, false);
  std::unique_lock<std::mutex> lock(m.mutex);
  const int64_t n = int64_t(m.order.size());
  const int64_t capacity = std::min(max_rows, n - m.read_position);
  x.resize(detail::batch_shape(capacity, m.x_shape));
  y.resize(detail::batch_shape(capacity, m.y_shape));
  const int64_t classes = m.y_shape[0];
  const bool one_hot = m.options.label_mode == "categorical";
  int64_t rows = 0;
  while (rows < capacity && m.read_position < n) {
    const int64_t p = m.read_position;
    Impl::Slot& slot = m.slots[size_t(p % int64_t(m.slots.size()))];
    m.ready_cv.wait(lock, [&] { return slot.ready && slot.position == p; });
    const int64_t f = m.order[size_t(p)];
    if (slot.error.empty()) {
      std::memcpy(x.data() + rows * m.row_elements, slot.pixels.data(), size_t(m.row_elements) * sizeof(float));
      const int label = m.index.labels[size_t(f)];
      float* yr = y.data() + rows * classes;
      if (one_hot) {
        std::fill(yr, yr + classes, 0.0f);
        yr[label] = 1.0f;
      } else if (classes == 1) {  // an unlabeled dataset has no target column
        yr[0] = float(label);
      }
      ++rows;
    } else {
      if (m.options.strict) throw IOError("image_dataset_from_directory: " + slot.error);
      m.bad[size_t(f)] = 1;
      m.skipped.push_back(m.index.paths[size_t(f)]);
      m.epoch_skipped.push_back(slot.error);
    }
    slot.ready = false;
    m.read_position = p + 1;
    m.work_cv.notify_all();
  }
  if (m.read_position == n) m.report_epoch_end();
  lock.unlock();
  if (rows < capacity) {
    x.resize_rows(rows);
    y.resize_rows(rows);
  }
  return rows;
}

}  // namespace myelin::data
