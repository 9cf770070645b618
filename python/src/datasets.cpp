// Datasets: file-backed and generated sources of batches that fit, evaluate and predict read
// batch by batch (myelin/data/dataset.hpp). The model reads them on a background thread, so a
// Python generator is called there with the GIL taken for each call.
#include "bindings.hpp"

#include <myelin/data/dataset.hpp>
#include <myelin/data/idx.hpp>
#include <myelin/data/image_folder.hpp>
#include <myelin/error.hpp>

namespace myelin::python {

namespace {

Shape shape_arg(py::handle obj, const char* what) {
  try {
    return obj.cast<Shape>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(what) + " must be a tuple of ints, e.g. (28, 28)");
  }
}

// One array, or a list (or tuple) of arrays in the model's order: a model of several inputs or outputs.
DataArg arrays_arg(py::handle obj, const char* what) {
  if (py::isinstance<py::dict>(obj))
    throw ValueError(std::string(what) + ": a dict by name is not accepted here; give a list in the model's order");
  if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj)) return to_tensor(obj, what);
  std::vector<Tensor> list;
  for (size_t k = 0; k < py::len(obj); ++k)
    list.push_back(to_tensor(obj[py::int_(k)], (std::string(what) + "[" + std::to_string(k) + "]").c_str()));
  return list;
}

// Per-sample shapes: one tuple of ints, or a list of them (several arrays).
std::vector<Shape> shapes_arg(py::handle obj, const char* what) {
  const bool several = (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) && py::len(obj) > 0 &&
                       (py::isinstance<py::list>(obj[py::int_(0)]) || py::isinstance<py::tuple>(obj[py::int_(0)]));
  if (!several) return {shape_arg(obj, what)};
  std::vector<Shape> shapes;
  for (auto item : obj) shapes.push_back(shape_arg(item, what));
  return shapes;
}

// Calls fn(epoch) for the next batch; None ends the epoch. The dataset's thread holds no GIL, so
// the call takes it, and the arrays become tensors before it is released again.
data::GeneratorDataset::Next python_next(py::object fn) {
  // The function is dropped with the GIL held, whichever thread drops the dataset last.
  std::shared_ptr<py::object> holder(new py::object(std::move(fn)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
  return [holder](int epoch) -> std::optional<data::Batch> {
    py::gil_scoped_acquire gil;
    py::object result = (*holder)(epoch);
    if (result.is_none()) return std::nullopt;
    if (!py::isinstance<py::tuple>(result) || (py::len(result) != 2 && py::len(result) != 3))
      throw ValueError("GeneratorDataset, epoch " + std::to_string(epoch) + " (counted from 0)" +
                       ": the function must return a tuple (x, y), (x, y, sample_weight) or None, got " +
                       std::string(py::str(py::type::handle_of(result).attr("__name__"))));
    auto batch = result.cast<py::tuple>();
    data::Batch b{arrays_arg(batch[0], "generator x"), arrays_arg(batch[1], "generator y")};
    if (batch.size() == 3) b.sample_weight = arrays_arg(batch[2], "generator sample_weight");
    return b;
  };
}

}  // namespace

void init_datasets(py::module_& m) {
  py::class_<data::Dataset, std::shared_ptr<data::Dataset>>(m, "Dataset")
      .def_property_readonly("x_shape", [](const data::Dataset& d) { return py::tuple(py::cast(d.x_shape())); })
      .def_property_readonly("y_shape", [](const data::Dataset& d) { return py::tuple(py::cast(d.y_shape())); })
      .def_property_readonly("size", &data::Dataset::size)
      .def_property_readonly("batch_size", &data::Dataset::batch_size);

  py::class_<data::IdxDataset, data::Dataset, std::shared_ptr<data::IdxDataset>>(m, "IdxDataset")
      .def(py::init([](const std::string& images, const std::string& labels, float scale, bool add_channel) {
             return std::make_shared<data::IdxDataset>(images, labels,
                                                       data::IdxDatasetOptions{.scale = scale, .add_channel = add_channel});
           }),
           py::arg("images_path"), py::arg("labels_path"), py::arg("scale") = 1.0f / 255.0f, py::arg("add_channel") = false);

  py::class_<data::CsvDataset, data::Dataset, std::shared_ptr<data::CsvDataset>>(m, "CsvDataset")
      .def(py::init([](const std::string& path, std::optional<std::string> target_column, int target_index, char delimiter,
                       bool header, int64_t shuffle_buffer) {
             data::CsvDatasetOptions o;
             o.target_column = target_column.value_or("");
             o.target_index = target_index;
             o.delimiter = delimiter;
             o.header = header;
             o.shuffle_buffer = shuffle_buffer;
             return std::make_shared<data::CsvDataset>(path, o);
           }),
           py::arg("path"), py::arg("target_column") = py::none(), py::arg("target_index") = -1,
           py::arg("delimiter") = ',', py::arg("header") = true, py::arg("shuffle_buffer") = 10000)
      .def_property_readonly("feature_names", &data::CsvDataset::feature_names)
      .def_property_readonly("target_name", &data::CsvDataset::target_name);

  py::class_<data::GeneratorDataset, data::Dataset, std::shared_ptr<data::GeneratorDataset>>(m, "GeneratorDataset")
      .def(py::init([](py::object fn, py::handle x_shape, py::handle y_shape, size_t sample_weights) {
             if (!PyCallable_Check(fn.ptr())) throw py::type_error("GeneratorDataset needs a callable fn(epoch)");
             return std::make_shared<data::GeneratorDataset>(
                 python_next(std::move(fn)),
                 data::GeneratorDataset::ArrayShapes{shapes_arg(x_shape, "x_shape"), shapes_arg(y_shape, "y_shape"),
                                                     sample_weights});
           }),
           py::arg("fn"), py::arg("x_shape"), py::arg("y_shape"), py::arg("sample_weights") = 0);

  py::class_<data::ImageFolderDataset, data::Dataset, std::shared_ptr<data::ImageFolderDataset>>(m, "ImageFolderDataset")
      .def_property_readonly("class_names", &data::ImageFolderDataset::class_names)
      .def_property_readonly("file_paths", &data::ImageFolderDataset::file_paths)
      .def_property_readonly("file_labels", &data::ImageFolderDataset::file_labels)
      .def_property_readonly("skipped_files", &data::ImageFolderDataset::skipped_files);

  // The options' checks and errors are the C++ function's; myelin.utils.image_dataset_from_directory
  // maps Keras's signature onto these arguments.
  m.def(
      "image_dataset_from_directory",
      [](const std::string& directory, std::vector<int> labels, bool unlabeled, const std::string& label_mode,
         std::vector<std::string> class_names, const std::string& color_mode, int64_t batch_size,
         std::array<int64_t, 2> image_size, bool shuffle, std::optional<uint32_t> seed, double validation_split,
         const std::string& subset, const std::string& interpolation, bool follow_links, bool crop_to_aspect_ratio,
         bool strict) -> py::object {
        data::ImageFolderOptions o{.labels = std::move(labels),
                                   .unlabeled = unlabeled,
                                   .label_mode = label_mode,
                                   .class_names = std::move(class_names),
                                   .color_mode = color_mode,
                                   .batch_size = batch_size,
                                   .image_size = image_size,
                                   .shuffle = shuffle,
                                   .seed = seed,
                                   .validation_split = validation_split,
                                   .subset = subset,
                                   .interpolation = interpolation,
                                   .follow_links = follow_links,
                                   .crop_to_aspect_ratio = crop_to_aspect_ratio,
                                   .strict = strict};
        if (subset == "both") {
          data::ImageFolderSplits parts = data::image_dataset_splits_from_directory(directory, o);
          return py::make_tuple(std::make_shared<data::ImageFolderDataset>(std::move(parts.training)),
                                std::make_shared<data::ImageFolderDataset>(std::move(parts.validation)));
        }
        return py::cast(std::make_shared<data::ImageFolderDataset>(data::image_dataset_from_directory(directory, o)));
      },
      py::arg("directory"), py::arg("labels"), py::arg("unlabeled"), py::arg("label_mode"), py::arg("class_names"), py::arg("color_mode"),
      py::arg("batch_size"), py::arg("image_size"), py::arg("shuffle"), py::arg("seed"), py::arg("validation_split"),
      py::arg("subset"), py::arg("interpolation"), py::arg("follow_links"), py::arg("crop_to_aspect_ratio"),
      py::arg("strict"));

  m.def("gunzip_file", &data::gunzip_file, py::arg("src"), py::arg("dst"));
}

}  // namespace myelin::python
