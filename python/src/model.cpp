// Sequential: compile, fit, evaluate, predict and the weights. Inputs are converted to tensors while
// the GIL is held; the training and inference loops then run without it, so other Python threads
// keep running, and Python callbacks take it back only for their own calls.
#include <cstdio>

#include "bindings.hpp"

#include <myelin/data/dataset.hpp>
#include <myelin/data/text_vectorization.hpp>
#include <myelin/error.hpp>
#include <myelin/io/model_io.hpp>
#include <myelin/model.hpp>

namespace myelin::python {

namespace {

OptimizerArg optimizer_arg(py::handle o) {
  if (py::isinstance<py::str>(o)) return OptimizerArg(o.cast<std::string>());
  if (py::isinstance<Optimizer>(o)) return OptimizerArg(o.cast<std::shared_ptr<Optimizer>>());
  throw py::type_error("optimizer must be a name ('adam') or an optimizer object, got " +
                       std::string(py::str(py::type::handle_of(o).attr("__name__"))));
}

LossArg loss_arg(py::handle l) {
  if (py::isinstance<py::str>(l)) return LossArg(l.cast<std::string>());
  if (py::isinstance<Loss>(l)) return LossArg(l.cast<std::shared_ptr<Loss>>());
  throw py::type_error("loss must be a name ('mse') or a loss object, got " +
                       std::string(py::str(py::type::handle_of(l).attr("__name__"))));
}

MetricArg metric_arg(py::handle m) {
  if (py::isinstance<py::str>(m)) return MetricArg(m.cast<std::string>());
  if (py::isinstance<Metric>(m)) return MetricArg(m.cast<std::shared_ptr<Metric>>());
  throw py::type_error("a metric must be a name ('accuracy') or a metric object, got " +
                       std::string(py::str(py::type::handle_of(m).attr("__name__"))));
}

// Arrays as fit/evaluate/predict take them: None (nothing), an array, a list/tuple of arrays (model
// order) or a dict by layer name. The Python layer has already made arrays of them.
DataArg data_arg(py::handle obj, const std::string& what) {
  if (obj.is_none()) return DataArg();
  if (py::isinstance<py::dict>(obj)) {
    std::map<std::string, Tensor> by_name;
    for (auto [k, v] : obj.cast<py::dict>()) {
      const std::string key = py::str(k);
      by_name.emplace(key, to_tensor(v, (what + "['" + key + "']").c_str()));
    }
    return DataArg(std::move(by_name));
  }
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    std::vector<Tensor> list;
    size_t i = 0;
    for (auto v : obj) list.push_back(to_tensor(v, (what + "[" + std::to_string(i++) + "]").c_str()));
    return DataArg(std::move(list));
  }
  return DataArg(to_tensor(obj, what.c_str()));
}

// compile's loss: a name or loss object, a list of them, or a dict by output name.
LossesArg losses_arg(py::handle l) {
  if (py::isinstance<py::dict>(l)) {
    std::map<std::string, LossArg> by_name;
    for (auto [k, v] : l.cast<py::dict>()) by_name.emplace(py::str(k), loss_arg(v));
    return LossesArg(std::move(by_name));
  }
  if (py::isinstance<py::list>(l) || py::isinstance<py::tuple>(l)) {
    std::vector<LossArg> list;
    for (auto v : l) list.push_back(loss_arg(v));
    return LossesArg(std::move(list));
  }
  return LossesArg(loss_arg(l));
}

// compile's metrics or weighted_metrics: a list (for every output) or a dict by output name.
MetricsArg metrics_arg(py::handle m) {
  if (m.is_none()) return MetricsArg();
  auto list_of = [](py::handle items) {
    std::vector<MetricArg> out;
    if (py::isinstance<py::str>(items) || py::isinstance<Metric>(items)) out.push_back(metric_arg(items));
    else
      for (auto item : items) out.push_back(metric_arg(item));
    return out;
  };
  if (py::isinstance<py::dict>(m)) {
    std::map<std::string, std::vector<MetricArg>> by_name;
    for (auto [k, v] : m.cast<py::dict>()) by_name.emplace(py::str(k), list_of(v));
    return MetricsArg(std::move(by_name));
  }
  return MetricsArg(list_of(m));
}

LossWeights loss_weights_arg(py::handle w) {
  if (w.is_none()) return LossWeights();
  if (py::isinstance<py::dict>(w)) return LossWeights(w.cast<std::map<std::string, double>>());
  return LossWeights(w.cast<std::vector<double>>());
}

py::tuple shape_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

// fit's callbacks arrive as C++ callback objects, or (python_object, [hook names]) pairs.
std::vector<CallbackArg> callback_args(const py::list& items, FitContext& ctx) {
  std::vector<CallbackArg> out;
  for (auto item : items) {
    if (py::isinstance<Callback>(item)) {
      out.emplace_back(make_native_callback(item.cast<std::shared_ptr<Callback>>(), ctx));
    } else {
      auto pair = item.cast<py::tuple>();
      out.emplace_back(make_python_callback(py::reinterpret_borrow<py::object>(pair[0]),
                                            pair[1].cast<std::vector<std::string>>(), ctx));
    }
  }
  // Last, so that every other callback has seen the batch before Ctrl-C is acted on.
  out.emplace_back(make_interrupt_check(ctx));
  return out;
}

// A Dataset given where arrays may be (fit's x, evaluate's x, validation_data), or nullptr.
std::shared_ptr<data::Dataset> as_dataset(py::handle obj) {
  return py::isinstance<data::Dataset>(obj) ? obj.cast<std::shared_ptr<data::Dataset>>() : nullptr;
}

// Runs `train` (fit on arrays or on a Dataset) without the GIL; Python callbacks take it back for
// their own calls, and the first exception one of them raised is raised here once training stops.
template <class Train>
py::tuple run_fit(FitOptions& o, py::list callbacks, Train&& train) {
  FitContext ctx;  // outlives the callbacks that refer to it
  o.callbacks = callback_args(callbacks, ctx);
  flush_python_stdout();
  History history;
  {
    py::gil_scoped_release release;
    try {
      history = train(o);
    } catch (...) {
      flush_c_stdout();
      throw;
    }
    flush_c_stdout();
  }
  o.callbacks.clear();  // the Python callbacks are released while the GIL is held
  if (ctx.error) {
    py::error_already_set e = std::move(*ctx.error);
    ctx.error.reset();
    throw e;
  }
  py::dict h;
  for (const auto& [k, v] : history.history) h[py::str(k)] = py::cast(v);
  return py::make_tuple(h, py::cast(history.epochs));
}

// x and y are arrays (or lists/dicts of them), or x is a Dataset and y is None. validation_data is
// (x_val, y_val[, sample_weight_val]) or a Dataset (the latter with a Dataset x only, as the C++ API has it).
py::tuple fit(Model& model, py::handle x, py::handle y, int epochs, int batch_size, bool shuffle,
              double validation_split, py::object validation_data, py::list callbacks, int verbose,
              int initial_epoch, std::optional<uint64_t> seed, py::handle sample_weight,
              std::map<int, double> class_weight) {
  FitOptions o;
  o.epochs = epochs;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.validation_split = validation_split;
  o.verbose = verbose;
  o.seed = seed;
  o.initial_epoch = initial_epoch;
  o.class_weight = std::move(class_weight);
  const auto validation_dataset = as_dataset(validation_data);
  if (!validation_data.is_none() && !validation_dataset) {
    auto v = validation_data.cast<py::tuple>();
    if (v.size() != 2 && v.size() != 3)
      throw py::value_error("validation_data must be a tuple (x_val, y_val[, sample_weight_val]) or a Dataset");
    o.validation_data = ValidationData{data_arg(v[0], "validation_data x"), data_arg(v[1], "validation_data y"),
                                       v.size() == 3 ? data_arg(v[2], "validation_data sample_weight") : DataArg()};
  }
  o.validation_dataset = validation_dataset.get();  // kept alive by validation_dataset until we return

  if (const auto dataset = as_dataset(x)) {
    if (!y.is_none()) throw py::value_error("fit(dataset): y must be None, the dataset holds the targets");
    if (!sample_weight.is_none())
      throw py::value_error("fit(dataset): sample_weight goes with arrays; a dataset carries its own "
                            "(a GeneratorDataset with sample_weight=True yields (x, y, sample_weight))");
    return run_fit(o, callbacks, [&](const FitOptions& opts) { return model.fit(*dataset, opts); });
  }
  if (validation_dataset)
    throw py::value_error("validation_data may be a Dataset only when fit trains on a Dataset; pass (x_val, y_val)");
  const DataArg xs = data_arg(x, "x"), ys = data_arg(y, "y");
  o.sample_weight = data_arg(sample_weight, "sample_weight");
  return run_fit(o, callbacks, [&](const FitOptions& opts) { return model.fit(xs, ys, opts); });
}

py::dict evaluate(Model& model, py::handle x, py::handle y, int batch_size, int verbose, py::handle sample_weight) {
  EvaluateOptions options{.batch_size = batch_size, .verbose = verbose};
  const auto dataset = as_dataset(x);
  if (dataset && !y.is_none()) throw py::value_error("evaluate(dataset): y must be None, the dataset holds the targets");
  DataArg xs, ys;
  if (!dataset) xs = data_arg(x, "x"), ys = data_arg(y, "y");
  options.sample_weight = data_arg(sample_weight, "sample_weight");
  flush_python_stdout();
  Logs logs;
  {
    py::gil_scoped_release release;
    logs = dataset ? model.evaluate(*dataset, options) : model.evaluate(xs, ys, options);
    flush_c_stdout();
  }
  return logs_to_dict(logs);
}

// One array for a model with one output, a list of arrays (in output order) for several.
py::object predict(Model& model, py::handle x, int batch_size) {
  const auto dataset = as_dataset(x);
  DataArg xs;
  if (!dataset) xs = data_arg(x, "x");
  std::vector<Tensor> out;
  {
    py::gil_scoped_release release;
    if (dataset) out = model.predict_outputs(*dataset, batch_size);
    else out = model.predict(xs, batch_size);
  }
  if (out.size() == 1) return to_numpy(std::move(out[0]));
  py::list arrays;
  for (auto& t : out) arrays.append(to_numpy(std::move(t)));
  return arrays;
}

}  // namespace

void init_model(py::module_& m) {
  py::class_<Model>(m, "Model")
      .def(py::init<std::vector<SymbolicTensor>, std::vector<SymbolicTensor>, std::string>(), py::arg("inputs"),
           py::arg("outputs"), py::arg("name") = "functional")
      .def_property_readonly("inputs", &Model::inputs)
      .def_property_readonly("outputs", &Model::outputs)
      .def("__call__", [](Model& model, const SymbolicTensor& x) { return model(x); }, py::arg("x"))
      .def("build", [](Model& s, std::optional<Shape> shape) { s.build(shape); },
           py::arg("input_shape") = py::none())
      .def_property_readonly("built", &Model::built)
      .def(
          "compile",
          [](Model& s, py::handle optimizer, py::handle loss, py::handle metrics, py::handle loss_weights,
             py::handle weighted_metrics) {
            s.compile(optimizer_arg(optimizer), losses_arg(loss),
                      CompileOptions{.loss_weights = loss_weights_arg(loss_weights),
                                     .metrics = metrics_arg(metrics),
                                     .weighted_metrics = metrics_arg(weighted_metrics)});
          },
          py::arg("optimizer"), py::arg("loss"), py::arg("metrics") = py::list(), py::arg("loss_weights") = py::none(),
          py::arg("weighted_metrics") = py::none())
      .def_property_readonly("input_names", &Model::input_names)
      .def_property_readonly("output_names", &Model::output_names)
      .def_property_readonly("compiled", &Model::compiled)
      .def("set_text_vectorization", &Model::set_text_vectorization, py::arg("vectorizer"))
      .def_property_readonly("text_vectorization",
                             [](const Model& s) -> std::optional<data::TextVectorization> {
                               if (const auto* tv = s.text_vectorization()) return *tv;
                               return std::nullopt;
                             })
      .def("metric_names",
           [](const Model& s) {
             std::vector<std::string> names;
             for (const auto& m : s.compiled_metrics()) names.push_back(m.get() ? m.get()->name() : m.name());
             return names;
           })
      .def("fit", &fit, py::arg("x"), py::arg("y") = py::none(), py::arg("epochs") = 1, py::arg("batch_size") = 32,
           py::arg("shuffle") = true, py::arg("validation_split") = 0.0, py::arg("validation_data") = py::none(),
           py::arg("callbacks") = py::list(), py::arg("verbose") = 1, py::arg("initial_epoch") = 0,
           py::arg("seed") = py::none(), py::arg("sample_weight") = py::none(),
           py::arg("class_weight") = std::map<int, double>())
      .def("evaluate", &evaluate, py::arg("x"), py::arg("y") = py::none(), py::arg("batch_size") = 32, py::arg("verbose") = 0,
           py::arg("sample_weight") = py::none())
      .def("predict", &predict, py::arg("x"), py::arg("batch_size") = 32)
      .def(
          "train_on_batch",
          [](Model& s, py::handle x, py::handle y, py::handle sample_weight) {
            const DataArg xs = data_arg(x, "x"), ys = data_arg(y, "y"), ws = data_arg(sample_weight, "sample_weight");
            py::gil_scoped_release release;
            return s.train_on_batch(xs, ys, ws);
          },
          py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none())
      .def("summary_string", &Model::summary_string)
      .def_property_readonly("layers", &Model::layers)
      .def("get_layer", &Model::get_layer, py::arg("name"))
      .def("get_weights",
           [](Model& s) {
             std::vector<py::array_t<float>> out;
             for (auto& t : s.get_weights()) out.push_back(to_numpy(std::move(t)));
             return out;
           })
      .def(
          "set_weights",
          [](Model& s, const std::vector<py::object>& values) {
            std::vector<Tensor> ts;
            for (const auto& v : values) ts.push_back(to_tensor(v, "weight"));
            s.set_weights(ts);
          },
          py::arg("weights"))
      .def("weight_names",
           [](Model& s) {
             std::vector<std::string> names;
             for (const auto& p : s.weights()) names.push_back(p.name);
             return names;
           })
      .def("count_params", &Model::count_params)
      .def_property_readonly("name", &Model::name)
      .def_property_readonly("input_shape", [](const Model& s) { return shape_tuple(s.input_shape()); })
      .def_property_readonly("output_shape", [](const Model& s) { return shape_tuple(s.output_shape()); })
      .def_property_readonly("optimizer", &Model::optimizer, py::return_value_policy::reference_internal)
      .def_property_readonly("loss", [](const Model& s) { return s.loss().name(); })
      .def_readwrite("stop_training", &Model::stop_training)
      .def("save", &Model::save, py::arg("path"))
      .def("save_weights", &Model::save_weights, py::arg("path"))
      .def("export", &Model::export_model, py::arg("path"), py::arg("format") = "onnx")
      .def("load_weights", &Model::load_weights, py::arg("path"))
      .def("to_json", &Model::to_json)
      .def_property_readonly("is_sequential", &Model::is_sequential);
  py::class_<Sequential, Model>(m, "Sequential")
      .def(py::init<std::string>(), py::arg("name") = "sequential")
      .def("add", [](Sequential& s, std::shared_ptr<Layer> layer) { s.add(std::move(layer)); }, py::arg("layer"));
}

}  // namespace myelin::python
