// Data sets and preprocessing. The Python package reshapes these into Keras's and scikit-learn's
// return forms; here they are the C++ functions over arrays.
#include "bindings.hpp"

#include <myelin/data/csv.hpp>
#include <myelin/data/datasets.hpp>
#include <myelin/data/idx.hpp>
#include <myelin/data/preprocessing.hpp>

namespace myelin::python {

namespace {

py::tuple split_tuple(const datasets::Split& s) { return py::make_tuple(to_numpy(s.x), to_numpy(s.y)); }

py::tuple train_test_tuple(const datasets::TrainTest& t) {
  return py::make_tuple(split_tuple(t.train), split_tuple(t.test));
}

py::list folds_list(const std::vector<FoldIndices>& folds) {
  py::list out;
  for (const auto& [train, test] : folds)
    out.append(py::make_tuple(py::array_t<int64_t>(py::ssize_t(train.size()), train.data()),
                              py::array_t<int64_t>(py::ssize_t(test.size()), test.data())));
  return out;
}

}  // namespace

void init_data(py::module_& m) {
  m.def("data_dir", &datasets::data_dir);
  m.def("fashion_mnist", [](const std::string& dir) { return train_test_tuple(datasets::fashion_mnist(dir)); },
        py::arg("dir") = "");
  m.def("mnist", [](const std::string& dir) { return train_test_tuple(datasets::mnist(dir)); }, py::arg("dir") = "");
  m.def("boston_housing", [](const std::string& path) { return split_tuple(datasets::boston_housing(path)); },
        py::arg("path") = "");
  m.def("digits", [](const std::string& path) { return split_tuple(datasets::digits(path)); }, py::arg("path") = "");
  m.def("iris", [](const std::string& path) { return split_tuple(datasets::iris(path)); }, py::arg("path") = "");
  m.def("diabetes", [](const std::string& dir) { return split_tuple(datasets::diabetes(dir)); }, py::arg("dir") = "");
  m.def("read_idx", [](const std::string& path) { return to_numpy(data::read_idx(path)); }, py::arg("path"));

  m.def(
      "train_test_split",
      [](py::handle x, py::handle y, double test_size, uint64_t random_state, bool stratify) {
        auto r = train_test_split(to_tensor(x, "x"), to_tensor(y, "y"), test_size, random_state, stratify);
        return py::make_tuple(to_numpy(r.x_train), to_numpy(r.x_test), to_numpy(r.y_train), to_numpy(r.y_test));
      },
      py::arg("x"), py::arg("y"), py::arg("test_size") = 0.25, py::arg("random_state") = 0,
      py::arg("stratify") = false);

  m.def(
      "to_categorical",
      [](py::handle y, int64_t num_classes) { return to_numpy(to_categorical(to_tensor(y, "y"), num_classes)); },
      py::arg("y"), py::arg("num_classes") = -1);

  py::class_<StandardScaler>(m, "StandardScaler")
      .def(py::init<>())
      .def("fit", [](StandardScaler& s, py::handle x) { s.fit(to_tensor(x, "X")); }, py::arg("X"))
      .def("partial_fit", [](StandardScaler& s, py::handle x) { s.partial_fit(to_tensor(x, "X")); }, py::arg("X"))
      .def("transform", [](const StandardScaler& s, py::handle x) { return to_numpy(s.transform(to_tensor(x, "X"))); },
           py::arg("X"))
      .def("fit_transform", [](StandardScaler& s, py::handle x) { return to_numpy(s.fit_transform(to_tensor(x, "X"))); },
           py::arg("X"))
      .def("inverse_transform",
           [](const StandardScaler& s, py::handle x) { return to_numpy(s.inverse_transform(to_tensor(x, "X"))); },
           py::arg("X"))
      .def_property_readonly("mean_", [](const StandardScaler& s) { return to_numpy(s.mean()); })
      .def_property_readonly("scale_", [](const StandardScaler& s) { return to_numpy(s.scale()); })
      .def_property_readonly("var_", [](const StandardScaler& s) { return to_numpy(s.var()); })
      .def_property_readonly("n_samples_seen_", &StandardScaler::n_samples_seen)
      .def_property_readonly("fitted", &StandardScaler::fitted);

  py::class_<MinMaxScaler>(m, "MinMaxScaler")
      .def(py::init<float, float>(), py::arg("lo") = 0.f, py::arg("hi") = 1.f)
      .def("fit", [](MinMaxScaler& s, py::handle x) { s.fit(to_tensor(x, "X")); }, py::arg("X"))
      .def("partial_fit", [](MinMaxScaler& s, py::handle x) { s.partial_fit(to_tensor(x, "X")); }, py::arg("X"))
      .def("transform", [](const MinMaxScaler& s, py::handle x) { return to_numpy(s.transform(to_tensor(x, "X"))); },
           py::arg("X"))
      .def("fit_transform", [](MinMaxScaler& s, py::handle x) { return to_numpy(s.fit_transform(to_tensor(x, "X"))); },
           py::arg("X"))
      .def("inverse_transform",
           [](const MinMaxScaler& s, py::handle x) { return to_numpy(s.inverse_transform(to_tensor(x, "X"))); },
           py::arg("X"))
      .def_property_readonly("data_min_", [](const MinMaxScaler& s) { return to_numpy(s.data_min()); })
      .def_property_readonly("data_max_", [](const MinMaxScaler& s) { return to_numpy(s.data_max()); })
      .def_property_readonly("scale_", [](const MinMaxScaler& s) { return to_numpy(s.scale()); })
      .def_property_readonly("min_", [](const MinMaxScaler& s) { return to_numpy(s.min()); })
      .def_property_readonly("fitted", &MinMaxScaler::fitted);

  m.def(
      "kfold_split",
      [](int64_t n, int n_splits, bool shuffle, uint64_t random_state) {
        return folds_list(KFold(n_splits, shuffle, random_state).split(n));
      },
      py::arg("n"), py::arg("n_splits"), py::arg("shuffle"), py::arg("random_state"));
  m.def(
      "stratified_kfold_split",
      [](py::handle y, int n_splits, bool shuffle, uint64_t random_state) {
        return folds_list(StratifiedKFold(n_splits, shuffle, random_state).split(to_tensor(y, "y")));
      },
      py::arg("y"), py::arg("n_splits"), py::arg("shuffle"), py::arg("random_state"));
}

}  // namespace myelin::python
