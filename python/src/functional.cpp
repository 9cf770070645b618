// The functional API underneath myelin.Input, Layer.__call__ and myelin.Model(inputs, outputs):
// symbolic tensors (Keras's KerasTensor), layer calls, and models built from them.
#include "bindings.hpp"

#include <myelin/layers/input.hpp>
#include <myelin/layers/symbolic_tensor.hpp>
#include <myelin/model.hpp>

namespace myelin::python {

void init_functional(py::module_& m) {
  py::class_<SymbolicTensor>(m, "KerasTensor")
      .def_property_readonly("layer", [](const SymbolicTensor& t) { return t.node()->layer; })
      .def_property_readonly("index", &SymbolicTensor::index)
      .def("same_as", [](const SymbolicTensor& a, const SymbolicTensor& b) { return a == b; }, py::arg("other"))
      .def("__repr__", [](const SymbolicTensor& t) {
        return "<KerasTensor from layer '" + t.layer().name() + "' (" + t.layer().class_name() + ")>";
      });
  m.def(
      "input_tensor",
      [](const Shape& shape, const std::string& name) { return SymbolicTensor(layers::Input(shape, name)); },
      py::arg("shape"), py::arg("name") = "");
  m.def("call_layer", &call_layer, py::arg("layer"), py::arg("inputs"));
  m.def("call_layer_outputs", &call_layer_outputs, py::arg("layer"), py::arg("inputs"));
  m.def(
      "layer_output", [](const Layer& l) { return l.output(); }, py::arg("layer"));
}

}  // namespace myelin::python
