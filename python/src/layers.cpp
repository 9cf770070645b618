// Layers. Python creates every layer from Keras's class name and config through the C++ registry
// (layers::from_config), so a layer class the registry knows needs no binding of its own: the
// Python class only spells out Keras's arguments.
#include "bindings.hpp"

#include <myelin/error.hpp>
#include <myelin/layers/layer.hpp>
#include <myelin/layers/normalization.hpp>
#include <myelin/layers/registry.hpp>

namespace myelin::python {

namespace {

// Copies of the layer's weights (trainable first, then state), as Keras's layer.get_weights().
std::vector<py::array_t<float>> layer_weights(Layer& layer) {
  std::vector<py::array_t<float>> out;
  for (const auto& p : layer.params()) out.push_back(to_numpy(p.value->clone()));
  return out;
}

void set_layer_weights(Layer& layer, const std::vector<py::object>& values) {
  auto params = layer.params();
  if (values.size() != params.size())
    throw ValueError("set_weights: layer '" + layer.name() + "' has " + std::to_string(params.size()) +
                     " weights, got " + std::to_string(values.size()));
  // Every shape is checked before anything is written, so a failed call changes nothing.
  std::vector<Tensor> tensors;
  for (size_t i = 0; i < params.size(); ++i) {
    tensors.push_back(to_tensor(values[i], "weight"));
    if (tensors.back().shape() != params[i].value->shape())
      throw ShapeError("set_weights: layer '" + layer.name() + "' weight " + params[i].name + " has shape " +
                       shape_to_string(params[i].value->shape()) + ", got " + shape_to_string(tensors.back().shape()));
  }
  for (size_t i = 0; i < params.size(); ++i) params[i].value->copy_from(tensors[i]);
}

}  // namespace

void init_layers(py::module_& m) {
  py::class_<Layer, std::shared_ptr<Layer>>(m, "Layer")
      .def_property_readonly("class_name", &Layer::class_name)
      .def_property("name", &Layer::name, &Layer::set_name)
      .def_property_readonly("built", &Layer::built)
      .def_property("trainable", &Layer::trainable, &Layer::set_trainable)
      .def("get_config", [](const Layer& l) { return json_to_py(l.get_config()); })
      .def("get_weights", &layer_weights)
      .def("set_weights", &set_layer_weights, py::arg("weights"))
      .def("weight_names", [](Layer& l) {
        std::vector<std::string> names;
        for (const auto& p : l.params()) names.push_back(p.name);
        return names;
      })
      .def("count_params", &Layer::count_params, py::arg("trainable_only") = false);

  py::class_<layers::Normalization, Layer, std::shared_ptr<layers::Normalization>>(m, "NormalizationLayer")
      .def("adapt", [](layers::Normalization& n, py::handle data) { n.adapt(to_tensor(data, "data")); }, py::arg("data"))
      .def_property_readonly("mean", [](const layers::Normalization& n) { return to_numpy(n.mean().clone()); })
      .def_property_readonly("variance", [](const layers::Normalization& n) { return to_numpy(n.variance().clone()); });

  m.def(
      "layer_from_config",
      [](const std::string& class_name, py::handle config) {
        return layers::from_config(class_name, py_to_json(config));
      },
      py::arg("class_name"), py::arg("config"), "A new layer from Keras's class name and get_config() dict.");
  m.def("known_layer_classes", &layers::known_classes);
}

}  // namespace myelin::python
