// Metrics: Keras's stateful objects (update_state, result, reset_state) and the plain functions
// over whole arrays, as scikit-learn's.
#include "bindings.hpp"

#include <myelin/metrics.hpp>

namespace myelin::python {

namespace {

// The plain functions take y_true and y_pred as arrays; they are converted here.
template <double (*F)(const Tensor&, const Tensor&)>
double on_arrays(py::handle y_true, py::handle y_pred) {
  return F(to_tensor(y_true, "y_true"), to_tensor(y_pred, "y_pred"));
}

}  // namespace

void init_metrics(py::module_& m) {
  py::class_<Metric, std::shared_ptr<Metric>>(m, "Metric")
      .def_property_readonly("name", &Metric::name)
      .def(
          "update_state",
          [](Metric& metric, py::handle y_true, py::handle y_pred) {
            metric.update(to_tensor(y_true, "y_true"), to_tensor(y_pred, "y_pred"));
          },
          py::arg("y_true"), py::arg("y_pred"))
      .def("result", &Metric::result)
      .def("reset_state", &Metric::reset);

  using namespace metrics;
  py::class_<BinaryAccuracy, Metric, std::shared_ptr<BinaryAccuracy>>(m, "BinaryAccuracy")
      .def(py::init<std::string, float>(), py::arg("name") = "binary_accuracy", py::arg("threshold") = 0.5f);
  py::class_<CategoricalAccuracy, Metric, std::shared_ptr<CategoricalAccuracy>>(m, "CategoricalAccuracy")
      .def(py::init<std::string>(), py::arg("name") = "categorical_accuracy");
  py::class_<SparseCategoricalAccuracy, Metric, std::shared_ptr<SparseCategoricalAccuracy>>(m, "SparseCategoricalAccuracy")
      .def(py::init<std::string>(), py::arg("name") = "sparse_categorical_accuracy");
  py::class_<metrics::MeanSquaredError, Metric, std::shared_ptr<metrics::MeanSquaredError>>(m, "MeanSquaredErrorMetric")
      .def(py::init<std::string>(), py::arg("name") = "mean_squared_error");
  py::class_<metrics::MeanAbsoluteError, Metric, std::shared_ptr<metrics::MeanAbsoluteError>>(m, "MeanAbsoluteErrorMetric")
      .def(py::init<std::string>(), py::arg("name") = "mean_absolute_error");
  py::class_<Precision, Metric, std::shared_ptr<Precision>>(m, "Precision")
      .def(py::init<float, std::string>(), py::arg("thresholds") = 0.5f, py::arg("name") = "precision");
  py::class_<Recall, Metric, std::shared_ptr<Recall>>(m, "Recall")
      .def(py::init<float, std::string>(), py::arg("thresholds") = 0.5f, py::arg("name") = "recall");
  py::class_<AUC, Metric, std::shared_ptr<AUC>>(m, "AUC").def(py::init<std::string>(), py::arg("name") = "auc");

  m.def("get_metric", &metrics::get, py::arg("name"));
  m.def("mean_squared_error", &on_arrays<&metrics::mean_squared_error>, py::arg("y_true"), py::arg("y_pred"));
  m.def("mean_absolute_error", &on_arrays<&metrics::mean_absolute_error>, py::arg("y_true"), py::arg("y_pred"));
  m.def("accuracy_score", &on_arrays<&metrics::accuracy>, py::arg("y_true"), py::arg("y_pred"));
  m.def("precision_score", &on_arrays<&metrics::precision>, py::arg("y_true"), py::arg("y_pred"));
  m.def("recall_score", &on_arrays<&metrics::recall>, py::arg("y_true"), py::arg("y_pred"));
  m.def("roc_auc_score", &on_arrays<&metrics::roc_auc>, py::arg("y_true"), py::arg("y_pred"));
}

}  // namespace myelin::python
