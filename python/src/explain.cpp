// Explanations (myelin/explain/*.hpp) as the submodule _myelin.explain: attributions for numpy
// inputs, the tabular feature table and the heat-map pictures. Keyword names and defaults are the
// Python package's (python/myelin/explain.py); here each call converts its arrays while the GIL is
// held and then runs the C++ function without it, as predict does.
#include <algorithm>
#include <sstream>

#include "bindings.hpp"

#include <myelin/error.hpp>
#include <myelin/explain/attributions.hpp>
#include <myelin/explain/feature_table.hpp>
#include <myelin/explain/heatmap.hpp>
#include <myelin/model.hpp>

namespace myelin::python {

namespace {

// None: each row's predicted unit; an int: that unit for every row; a sequence of ints: one per
// row. The Python layer has already turned numpy arrays and numpy integers into these.
explain::Target target_arg(py::handle target) {
  if (target.is_none()) return {};
  if (py::isinstance<py::int_>(target)) return explain::Target(target.cast<int>());
  try {
    return explain::Target(target.cast<std::vector<int>>());
  } catch (const py::cast_error&) {
    throw py::type_error("target must be None, an int or a list of ints, got " +
                         std::string(py::str(py::type::handle_of(target).attr("__name__"))));
  }
}

explain::ScoreOptions score_options(bool logits, size_t output, int batch_size) {
  return explain::ScoreOptions{.logits = logits, .output = output, .batch_size = batch_size};
}

// Runs `fn` without the GIL; the tensors it returns become numpy arrays once it is taken back.
template <class Fn>
py::array_t<float> released(Fn&& fn) {
  Tensor out;
  {
    py::gil_scoped_release release;
    out = fn();
  }
  return to_numpy(std::move(out));
}

std::vector<explain::FeatureAttribution> table_arg(py::handle table) {
  std::vector<explain::FeatureAttribution> rows;
  for (auto row : table) {
    auto t = row.cast<py::sequence>();
    if (py::len(t) != 3)
      throw py::value_error("print_feature_table: each row must be (feature, value, attribution), got " +
                            std::to_string(py::len(t)) + " items");
    rows.push_back({py::str(t[0]).cast<std::string>(), t[1].cast<double>(), t[2].cast<double>()});
  }
  return rows;
}

}  // namespace

void init_explain(py::module_& root) {
  auto m = root.def_submodule("explain", "Attributions and their pictures (myelin/explain/*.hpp).");

  m.def(
      "saliency",
      [](Model& model, py::handle x, py::handle target, bool absolute, bool logits, size_t output, int batch_size) {
        const Tensor xs = to_tensor(x, "x");
        const auto t = target_arg(target);
        const explain::SaliencyOptions o{.absolute = absolute, .score = score_options(logits, output, batch_size)};
        return released([&] { return explain::saliency(model, xs, t, o); });
      },
      py::arg("model"), py::arg("x"), py::arg("target"), py::arg("absolute"), py::arg("logits"), py::arg("output"),
      py::arg("batch_size"));
  m.def(
      "smooth_grad",
      [](Model& model, py::handle x, py::handle target, int samples, double noise, bool absolute, uint64_t seed,
         bool logits, size_t output, int batch_size) {
        const Tensor xs = to_tensor(x, "x");
        const auto t = target_arg(target);
        const explain::SmoothGradOptions o{.samples = samples, .noise = noise, .absolute = absolute, .seed = seed,
                                           .score = score_options(logits, output, batch_size)};
        return released([&] { return explain::smooth_grad(model, xs, t, o); });
      },
      py::arg("model"), py::arg("x"), py::arg("target"), py::arg("samples"), py::arg("noise"), py::arg("absolute"),
      py::arg("seed"), py::arg("logits"), py::arg("output"), py::arg("batch_size"));
  m.def(
      "integrated_gradients",
      [](Model& model, py::handle x, py::handle target, py::handle baseline, int steps, bool logits, size_t output,
         int batch_size) {
        const Tensor xs = to_tensor(x, "x");
        const auto t = target_arg(target);
        explain::IntegratedGradientsOptions o{.steps = steps, .score = score_options(logits, output, batch_size)};
        if (!baseline.is_none()) o.baseline = to_tensor(baseline, "baseline");
        return released([&] { return explain::integrated_gradients(model, xs, t, o); });
      },
      py::arg("model"), py::arg("x"), py::arg("target"), py::arg("baseline"), py::arg("steps"), py::arg("logits"),
      py::arg("output"), py::arg("batch_size"));
  m.def(
      "grad_cam",
      [](Model& model, py::handle x, py::handle target, const std::string& layer, bool upsample, bool logits,
         size_t output, int batch_size) {
        const Tensor xs = to_tensor(x, "x");
        const auto t = target_arg(target);
        const explain::GradCamOptions o{.layer = layer, .upsample = upsample,
                                        .score = score_options(logits, output, batch_size)};
        return released([&] { return explain::grad_cam(model, xs, t, o); });
      },
      py::arg("model"), py::arg("x"), py::arg("target"), py::arg("layer"), py::arg("upsample"), py::arg("logits"),
      py::arg("output"), py::arg("batch_size"));
  m.def(
      "scores",
      [](Model& model, py::handle x, py::handle target, bool logits, size_t output, int batch_size) {
        const Tensor xs = to_tensor(x, "x");
        const auto t = target_arg(target);
        const auto o = score_options(logits, output, batch_size);
        return released([&] { return explain::scores(model, xs, t, o); });
      },
      py::arg("model"), py::arg("x"), py::arg("target"), py::arg("logits"), py::arg("output"), py::arg("batch_size"));
  m.def(
      "target_units",
      [](Model& model, py::handle x, py::handle target, bool logits, size_t output, int batch_size) {
        const Tensor xs = to_tensor(x, "x");
        const auto t = target_arg(target);
        const auto o = score_options(logits, output, batch_size);
        py::gil_scoped_release release;
        return explain::target_units(model, xs, t, o);
      },
      py::arg("model"), py::arg("x"), py::arg("target"), py::arg("logits"), py::arg("output"), py::arg("batch_size"));
  m.def("last_spatial_layer", &explain::last_spatial_layer, py::arg("model"));
  // Model::gradients with the seed a Python function of the output: runs with the GIL held, since
  // the seed is Python's.
  m.def(
      "gradients",
      [](Model& model, py::handle x, py::function seed, bool logits, size_t output, const std::string& layer) {
        const Tensor xs = to_tensor(x, "x");
        auto g = model.gradients(
            xs,
            [&](const Tensor& out, Tensor& d_out) {
              Tensor copy(out.shape());
              std::copy(out.data(), out.data() + out.size(), copy.data());
              const Tensor d = to_tensor(seed(to_numpy(std::move(copy))), "seed's result");
              if (d.shape() != d_out.shape())
                throw ShapeError("gradients: seed must return an array shaped as the output " +
                                 shape_to_string(d_out.shape()) + ", got " + shape_to_string(d.shape()));
              std::copy(d.data(), d.data() + d.size(), d_out.data());
            },
            {.logits = logits, .output = output, .layer = layer});
        py::dict result;
        result["output"] = to_numpy(std::move(g.output));
        result["input_grad"] = to_numpy(std::move(g.input_grad));
        if (!layer.empty()) {
          result["layer_output"] = to_numpy(std::move(g.layer_output));
          result["layer_grad"] = to_numpy(std::move(g.layer_grad));
        }
        return result;
      },
      py::arg("model"), py::arg("x"), py::arg("seed"), py::arg("logits"), py::arg("output"), py::arg("layer"));

  m.def(
      "feature_table",
      [](py::handle x, py::handle attributions, int64_t row, const std::vector<std::string>& names) {
        py::list out;
        const Tensor xs = to_tensor(x, "x"), attrs = to_tensor(attributions, "attributions");
        for (const auto& r : explain::feature_table(xs, attrs, row, names))
          out.append(py::make_tuple(r.feature, r.value, r.attribution));
        return out;
      },
      py::arg("x"), py::arg("attributions"), py::arg("row"), py::arg("names"));
  m.def(
      "format_feature_table",
      [](py::handle table) {
        std::ostringstream out;
        explain::print_feature_table(out, table_arg(table));
        return out.str();
      },
      py::arg("table"));
  m.def(
      "save_heatmap",
      [](const std::string& path, py::handle image, py::handle attribution, int scale, double opacity) {
        const Tensor img = to_tensor(image, "image"), attr = to_tensor(attribution, "attribution");
        py::gil_scoped_release release;
        explain::save_heatmap(path, img, attr, {.scale = scale, .opacity = opacity});
      },
      py::arg("path"), py::arg("image"), py::arg("attribution"), py::arg("scale"), py::arg("opacity"));
  m.def(
      "save_heatmap_grid",
      [](const std::string& path, py::handle images, const std::vector<py::object>& attributions, int scale,
         double opacity) {
        const Tensor img = to_tensor(images, "images");
        std::vector<Tensor> attrs;
        for (size_t k = 0; k < attributions.size(); ++k)
          attrs.push_back(to_tensor(attributions[k], ("attributions[" + std::to_string(k) + "]").c_str()));
        py::gil_scoped_release release;
        explain::save_heatmap_grid(path, img, attrs, {.scale = scale, .opacity = opacity});
      },
      py::arg("path"), py::arg("images"), py::arg("attributions"), py::arg("scale"), py::arg("opacity"));
}

}  // namespace myelin::python
