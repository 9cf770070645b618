// The extension module myelin._myelin. The Keras-style names and defaults live in the Python
// package (python/myelin); this module exposes the C++ library underneath, one file per concern.
#include "bindings.hpp"

#include <myelin/error.hpp>
#include <myelin/model.hpp>
#include <myelin/layers/conv2d.hpp>
#include <myelin/memory_limit.hpp>
#include <myelin/mixed_precision.hpp>
#include <myelin/threading.hpp>

namespace myelin::python {

void init_errors(py::module_& m) {
  // Keras raises ValueError for bad shapes and values: ShapeError derives from it so that both
  // `except ValueError` and `except myelin.ShapeError` work. Later registrations are tried first,
  // so the base class comes first.
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<ShapeError> shape_error(m, "ShapeError", PyExc_ValueError);
  // Too big for this process's memory (myelin/memory_limit.hpp): Python's MemoryError.
  static py::exception<ResourceError> resource_error(m, "ResourceError", PyExc_MemoryError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      shape_error(e.what());
    } catch (const ResourceError& e) {
      resource_error(e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const Error& e) {
      error(e.what());
    }
  });
}

}  // namespace myelin::python

namespace py = pybind11;

PYBIND11_MODULE(_myelin, m) {
  namespace mp = myelin::python;
  m.doc() = "The C++ core of myelin; use the Keras-style modules of the myelin package instead.";
  mp::init_errors(m);
  mp::init_tensors(m);
  mp::init_layers(m);
  mp::init_losses(m);
  mp::init_metrics(m);
  mp::init_optimizers(m);
  mp::init_callbacks(m);
  mp::init_model(m);
  mp::init_functional(m);
  mp::init_data(m);
  mp::init_datasets(m);
  mp::init_distributed(m);
  mp::init_io(m);
  mp::init_explain(m);
  mp::init_text(m);

  m.def("set_random_seed", &myelin::set_random_seed, py::arg("seed"),
        "Seeds initialisation, shuffling and dropout of the models created afterwards.");
  m.def("set_num_threads", &myelin::set_num_threads, py::arg("n"),
        "Threads every kernel uses; n <= 0 restores the default (all cores).");
  m.def("num_threads", &myelin::num_threads);
  m.def("memory_limit", [] {
    const auto limit = myelin::memory_limit();
    return py::make_tuple(limit.bytes, limit.source);
  }, "(bytes, source): the memory this process may still take, as the library checks models against it.");
  m.def("set_winograd_convolutions", &myelin::layers::set_winograd_convolutions, py::arg("allowed"),
        "Whether 3x3 stride-1 convolutions may run as Winograd (on by default; see conv2d.hpp).");
  m.def("winograd_convolutions", &myelin::layers::winograd_convolutions);
  m.def("set_global_policy", &myelin::mixed_precision::set_global_policy, py::arg("name"),
        "Keras's mixed_precision.set_global_policy: 'float32', 'mixed_bfloat16' or 'auto'.");
  m.def("global_policy", &myelin::mixed_precision::global_policy);
  m.def("bf16_supported", &myelin::mixed_precision::bf16_supported);
  m.def("bf16_faster_than_float32", &myelin::mixed_precision::bf16_faster_than_float32);
}
