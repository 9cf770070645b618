// numpy arrays <-> Tensors, JSON <-> Python objects, Logs -> dict, and stdout flushing.
#include <cstdio>
#include <cstring>

#include "bindings.hpp"

#include <myelin/error.hpp>

namespace myelin::python {

namespace {

// The dtype kinds read as numbers: b bool, i signed, u unsigned, f floating.
bool numeric_kind(char kind) { return kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f'; }

}  // namespace

Tensor to_tensor(py::handle obj, const char* what) {
  if (obj.is_none()) throw py::type_error(std::string(what) + " must be an array, got None");
  py::array arr;
  if (py::isinstance<py::array>(obj)) {
    arr = py::reinterpret_borrow<py::array>(obj);
  } else {
    try {
      arr = py::module_::import("numpy").attr("asarray")(obj);
    } catch (py::error_already_set&) {
      throw py::type_error(std::string(what) + " must be an array of numbers, got " +
                           std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
  }
  const char kind = arr.dtype().kind();
  if (!numeric_kind(kind))
    throw py::type_error(std::string(what) + " must hold numbers (float, int or bool), got dtype " +
                         std::string(py::str(arr.dtype())));
  if (arr.ndim() == 0) throw py::value_error(std::string(what) + " must have at least one dimension, got a scalar");
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  // A float32 C-order array is used in place: the tensor keeps a reference to it (released with
  // the GIL held, whichever thread drops the tensor last). Other dtypes and layouts are converted
  // into the tensor's own storage in one pass, by numpy.
  if (kind == 'f' && arr.itemsize() == sizeof(float) && (arr.flags() & py::array::c_style) && arr.size() > 0) {
    auto* ref = new py::object(arr);
    std::shared_ptr<void> owner(ref, [](void* p) {
      py::gil_scoped_acquire gil;
      delete static_cast<py::object*>(p);
    });
    return Tensor::wrap(static_cast<float*>(const_cast<void*>(arr.data())), shape, std::move(owner));
  }
  Tensor t(shape);
  if (t.size() == 0) return t;
  // float32 holds every integer up to 2^24 exactly and rounds beyond: an integer array (token ids
  // for an Embedding) is refused rather than silently changed. 8- and 16-bit integers always fit.
  if ((kind == 'i' || kind == 'u') && arr.itemsize() > 2) {
    py::module_ np = py::module_::import("numpy");
    const py::int_ limit(int64_t(1) << 24), low(-(int64_t(1) << 24));
    // min and max first (no copy); the offending place is looked for only when there is one.
    if (arr.attr("max")() > limit || arr.attr("min")() < low) {
      const py::object bad = np.attr("logical_or")(np.attr("greater")(arr, limit), np.attr("less")(arr, low));
      const py::tuple where = np.attr("unravel_index")(np.attr("argmax")(bad), arr.attr("shape"));
      std::string at;
      for (auto i : where) at += (at.empty() ? "" : ", ") + std::string(py::str(i));
      throw py::value_error(std::string(what) + " holds the integer " +
                            std::string(py::str(arr.attr("__getitem__")(where))) + " at [" + at +
                            "], which float32 cannot hold exactly: integers (token ids) must lie within +-2^24 = " +
                            "16777216");
    }
  }
  {
    std::vector<py::ssize_t> dims(shape.begin(), shape.end());
    py::capsule no_owner(t.data(), [](void*) {});  // t outlives the view, which is local
    py::array_t<float> dst(dims, t.data(), no_owner);
    py::module_::import("numpy").attr("copyto")(dst, arr, py::arg("casting") = "unsafe");
  }
  return t;
}

py::array_t<float> to_numpy(Tensor t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  if (t.size() == 0) return py::array_t<float>(shape);
  // The array holds a Tensor sharing the storage, so no values are copied.
  auto* keep = new Tensor(std::move(t));
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array_t<float>(shape, keep->data(), owner);
}

py::array_t<float> to_numpy(const std::vector<float>& v) {
  py::array_t<float> a(py::ssize_t(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

py::object json_to_py(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

nlohmann::json py_to_json(py::handle obj) {
  const std::string text = py::str(py::module_::import("json").attr("dumps")(obj));
  return nlohmann::json::parse(text);
}

py::dict logs_to_dict(const Logs& logs) {
  py::dict d;
  for (const auto& [k, v] : logs) d[py::str(k)] = v;
  return d;
}

void flush_python_stdout() {
  py::object out = py::module_::import("sys").attr("stdout");
  if (!out.is_none() && py::hasattr(out, "flush")) out.attr("flush")();
}

void flush_c_stdout() { std::fflush(stdout); }

void init_tensors(py::module_& m) {
  m.def(
      "as_float32", [](py::handle x) { return to_numpy(to_tensor(x, "x")); }, py::arg("x"),
      "The array as the library reads it: float32, C order (TypeError/ValueError as fit would raise).");
}

}  // namespace myelin::python
