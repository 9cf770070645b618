// Text preprocessing: TextVectorization and the vocabulary file reader. The Python package
// (python/myelin/text_vectorization.py) gives it Keras's arguments; strings arrive here as lists
// of str (encoded as UTF-8 by pybind11) or bytes (passed as they are, so invalid UTF-8 is reported).
#include "bindings.hpp"

#include <myelin/data/text_vectorization.hpp>

namespace myelin::python {

void init_text(py::module_& m) {
  using data::TextVectorization;
  py::class_<TextVectorization>(m, "TextVectorization")
      .def_static(
          "from_config", [](py::handle config) { return TextVectorization::from_config(py_to_json(config)); },
          py::arg("config"))
      .def("adapt", &TextVectorization::adapt, py::arg("texts"), py::call_guard<py::gil_scoped_release>())
      .def(
          "__call__",
          [](const TextVectorization& layer, const std::vector<std::string>& texts) {
            Tensor ids;
            {
              py::gil_scoped_release release;
              ids = layer(texts);
            }
            // Keras returns int64 ids; the float32 ids are exact integers (the vocabulary is below 2^24).
            py::array_t<int64_t> out({ids.dim(0), ids.dim(1)});
            int64_t* o = out.mutable_data();
            for (int64_t i = 0; i < ids.size(); ++i) o[i] = int64_t(ids[i]);
            return out;
          },
          py::arg("texts"))
      .def("tokenize", [](const TextVectorization& layer, const std::string& text) { return layer.tokenize(text); },
           py::arg("text"), "The tokens one text standardizes and splits into.")
      .def("set_vocabulary", &TextVectorization::set_vocabulary, py::arg("vocabulary"))
      .def("get_vocabulary", &TextVectorization::get_vocabulary, py::arg("include_special_tokens") = true)
      .def("vocabulary_size", &TextVectorization::vocabulary_size)
      .def("get_config", [](const TextVectorization& layer) { return json_to_py(layer.get_config()); })
      .def_property_readonly("name", &TextVectorization::name);

  m.def("read_vocabulary_file", &data::read_vocabulary_file, py::arg("path"),
        py::arg("max_line_bytes") = int64_t{1} << 20);
}

}  // namespace myelin::python
