// Shared pieces of the pybind11 module myelin._myelin: array conversion, JSON and Logs conversion,
// and the per-concern init functions that module.cpp calls.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <myelin/callbacks.hpp>
#include <myelin/history.hpp>
#include <myelin/tensor.hpp>

namespace myelin::python {

namespace py = pybind11;

/// A numpy array (or anything numpy.asarray accepts) as a Tensor. Floating, integer and boolean
/// arrays are accepted (others raise TypeError naming `what` and the dtype); the values are read as
/// float32 in C order. `what` names the argument in messages ("x", "y").
Tensor to_tensor(py::handle obj, const char* what);
/// A Tensor as a float32 numpy array sharing the tensor's storage (no copy): the array keeps the
/// storage alive.
py::array_t<float> to_numpy(Tensor t);
/// A list of floats as a 1-D float32 numpy array (copied).
py::array_t<float> to_numpy(const std::vector<float>& v);

/// JSON <-> Python objects go through the json module: configs are small and this keeps one
/// definition of the mapping (Python's).
py::object json_to_py(const nlohmann::json& j);
nlohmann::json py_to_json(py::handle obj);

/// Logs as a Python dict {name: float}.
py::dict logs_to_dict(const Logs& logs);

/// Flushes Python's sys.stdout and then C's stdout, so that text printed by Python before a call
/// into C++ (which prints with printf) comes out before it, and the reverse.
void flush_python_stdout();
void flush_c_stdout();

/// What one fit() call shares with its callbacks: the first Python exception raised while it ran
/// (from a Python callback, or KeyboardInterrupt from Ctrl-C), raised again when fit() returns.
struct FitContext {
  std::optional<py::error_already_set> error;
};
/// A C++ callback calling the given hooks ("on_epoch_end", ...) of a Python callback object.
std::shared_ptr<Callback> make_python_callback(py::object obj, const std::vector<std::string>& hooks,
                                               FitContext& ctx);
/// A C++ callback that runs Python's signal handlers after every batch (Ctrl-C stops fit cleanly).
std::shared_ptr<Callback> make_interrupt_check(FitContext& ctx);
/// A C++ callback as fit() runs it from Python: its hooks stop once a Python callback has raised or
/// Ctrl-C was pressed (on_train_end included), as if the exception had left fit at once.
std::shared_ptr<Callback> make_native_callback(std::shared_ptr<Callback> callback, FitContext& ctx);

void init_errors(py::module_& m);
void init_tensors(py::module_& m);
void init_layers(py::module_& m);
void init_losses(py::module_& m);
void init_metrics(py::module_& m);
void init_optimizers(py::module_& m);
void init_callbacks(py::module_& m);
void init_model(py::module_& m);
void init_functional(py::module_& m);
void init_data(py::module_& m);
void init_datasets(py::module_& m);
void init_distributed(py::module_& m);
void init_io(py::module_& m);
/// TextVectorization and read_vocabulary_file (text preprocessing, before the model).
void init_text(py::module_& m);
/// The submodule _myelin.explain: attributions, feature tables and heat maps.
void init_explain(py::module_& m);

}  // namespace myelin::python
