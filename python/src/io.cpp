// Model files: the same safetensors files as the C++ library writes and reads.
#include "bindings.hpp"

#include <myelin/io/model_io.hpp>

namespace myelin::python {

void init_io(py::module_& m) {
  m.def("load_model", &load_model, py::arg("path"),
        "A model saved by save(): architecture, weights and, when it was compiled, its compile settings "
        "and optimizer state.");
  m.def("model_from_json", &model_from_json, py::arg("json"));
  m.attr("__version__") = version();
}

}  // namespace myelin::python
