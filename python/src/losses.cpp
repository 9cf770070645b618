// Losses, with Keras's class names and arguments. A loss object is callable as in Keras:
// loss(y_true, y_pred) is the batch mean.
#include "bindings.hpp"

#include <myelin/losses.hpp>

namespace myelin::python {

void init_losses(py::module_& m) {
  py::class_<Loss, std::shared_ptr<Loss>>(m, "Loss")
      .def_property_readonly("name", &Loss::name)
      .def("get_config", [](const Loss& l) {
        py::dict d = json_to_py(l.get_config());
        d["name"] = l.name();
        return d;
      })
      .def(
          "__call__",
          [](const Loss& l, py::handle y_true, py::handle y_pred) {
            return l.compute(to_tensor(y_true, "y_true"), to_tensor(y_pred, "y_pred"), nullptr);
          },
          py::arg("y_true"), py::arg("y_pred"));

  py::class_<losses::MeanSquaredError, Loss, std::shared_ptr<losses::MeanSquaredError>>(m, "MeanSquaredError")
      .def(py::init<>());
  py::class_<losses::MeanAbsoluteError, Loss, std::shared_ptr<losses::MeanAbsoluteError>>(m, "MeanAbsoluteError")
      .def(py::init<>());
  py::class_<losses::Huber, Loss, std::shared_ptr<losses::Huber>>(m, "Huber")
      .def(py::init<float>(), py::arg("delta") = 1.f);
  py::class_<losses::BinaryCrossentropy, Loss, std::shared_ptr<losses::BinaryCrossentropy>>(m, "BinaryCrossentropy")
      .def(py::init<bool>(), py::arg("from_logits") = false);
  py::class_<losses::CategoricalCrossentropy, Loss, std::shared_ptr<losses::CategoricalCrossentropy>>(
      m, "CategoricalCrossentropy")
      .def(py::init<bool>(), py::arg("from_logits") = false);
  py::class_<losses::SparseCategoricalCrossentropy, Loss, std::shared_ptr<losses::SparseCategoricalCrossentropy>>(
      m, "SparseCategoricalCrossentropy")
      .def(py::init<bool>(), py::arg("from_logits") = false);

  m.def("get_loss", &losses::get, py::arg("name"), "A loss by Keras's name (\"mse\", \"binary_crossentropy\", ...).");
}

}  // namespace myelin::python
