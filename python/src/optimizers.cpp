// Optimizers and learning-rate schedules, with Keras's names, arguments and defaults. As in Keras,
// learning_rate is a number or a schedule, and clipnorm/clipvalue/global_clipnorm are None or a number.
#include "bindings.hpp"

#include <optional>

#include <myelin/optimizers.hpp>
#include <myelin/schedules.hpp>

namespace myelin::python {

namespace {

OptimizerOptions clip_options(std::optional<double> clipnorm, std::optional<double> clipvalue,
                              std::optional<double> global_clipnorm) {
  return {clipnorm.value_or(0.0), clipvalue.value_or(0.0), global_clipnorm.value_or(0.0)};
}

// A number is the rate; a schedule is installed after construction (the number is then unused).
template <class O, class... A>
std::shared_ptr<O> make(py::handle learning_rate, OptimizerOptions clip, A... args) {
  if (py::isinstance<LearningRateSchedule>(learning_rate)) {
    auto o = std::make_shared<O>(0.0, args..., clip);
    o->set_schedule(learning_rate.cast<std::shared_ptr<LearningRateSchedule>>());
    return o;
  }
  if (!py::isinstance<py::float_>(learning_rate) && !py::isinstance<py::int_>(learning_rate) &&
      !py::hasattr(learning_rate, "__float__"))
    throw py::type_error("learning_rate must be a number or a LearningRateSchedule");
  return std::make_shared<O>(learning_rate.cast<double>(), args..., clip);
}

}  // namespace

void init_optimizers(py::module_& m) {
  py::class_<LearningRateSchedule, std::shared_ptr<LearningRateSchedule>>(m, "LearningRateSchedule")
      .def("__call__", [](const LearningRateSchedule& s, int64_t step) { return s(step); }, py::arg("step"));
  using namespace schedules;
  py::class_<ExponentialDecay, LearningRateSchedule, std::shared_ptr<ExponentialDecay>>(m, "ExponentialDecay")
      .def(py::init<double, int64_t, double, bool>(), py::arg("initial_learning_rate"), py::arg("decay_steps"),
           py::arg("decay_rate"), py::arg("staircase") = false);
  py::class_<PiecewiseConstantDecay, LearningRateSchedule, std::shared_ptr<PiecewiseConstantDecay>>(
      m, "PiecewiseConstantDecay")
      .def(py::init<std::vector<int64_t>, std::vector<double>>(), py::arg("boundaries"), py::arg("values"));
  py::class_<CosineDecay, LearningRateSchedule, std::shared_ptr<CosineDecay>>(m, "CosineDecay")
      .def(py::init<double, int64_t, double>(), py::arg("initial_learning_rate"), py::arg("decay_steps"),
           py::arg("alpha") = 0.0);

  py::class_<Optimizer, std::shared_ptr<Optimizer>>(m, "Optimizer")
      .def_property_readonly("name", &Optimizer::name)
      .def_property("learning_rate", &Optimizer::learning_rate, &Optimizer::set_learning_rate)
      .def_property_readonly("iterations", &Optimizer::iterations)
      .def("get_config", [](const Optimizer& o) {
        py::dict d = json_to_py(o.get_config());
        d["name"] = o.name();
        return d;
      });

  // Keras's keyword arguments; the clipping ones are common to all.
#define MYELIN_CLIP_ARGS \
  py::kw_only(), py::arg("clipnorm") = py::none(), py::arg("clipvalue") = py::none(), \
      py::arg("global_clipnorm") = py::none()
  using std::optional;
  using namespace optimizers;
  py::class_<SGD, Optimizer, std::shared_ptr<SGD>>(m, "SGD").def(
      py::init([](py::object lr, double momentum, bool nesterov, optional<double> cn, optional<double> cv,
                  optional<double> gcn) { return make<SGD>(lr, clip_options(cn, cv, gcn), momentum, nesterov); }),
      py::arg("learning_rate") = 0.01, py::arg("momentum") = 0.0, py::arg("nesterov") = false, MYELIN_CLIP_ARGS);
  py::class_<Adam, Optimizer, std::shared_ptr<Adam>>(m, "Adam").def(
      py::init([](py::object lr, double b1, double b2, double eps, optional<double> cn, optional<double> cv,
                  optional<double> gcn) { return make<Adam>(lr, clip_options(cn, cv, gcn), b1, b2, eps); }),
      py::arg("learning_rate") = 0.001, py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999,
      py::arg("epsilon") = 1e-7, MYELIN_CLIP_ARGS);
  py::class_<AdamW, Adam, std::shared_ptr<AdamW>>(m, "AdamW").def(
      py::init([](py::object lr, double wd, double b1, double b2, double eps, optional<double> cn,
                  optional<double> cv, optional<double> gcn) {
        return make<AdamW>(lr, clip_options(cn, cv, gcn), wd, b1, b2, eps);
      }),
      py::arg("learning_rate") = 0.001, py::arg("weight_decay") = 0.004, py::arg("beta_1") = 0.9,
      py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7, MYELIN_CLIP_ARGS);
  py::class_<RMSprop, Optimizer, std::shared_ptr<RMSprop>>(m, "RMSprop").def(
      py::init([](py::object lr, double rho, double eps, optional<double> cn, optional<double> cv,
                  optional<double> gcn) { return make<RMSprop>(lr, clip_options(cn, cv, gcn), rho, eps); }),
      py::arg("learning_rate") = 0.001, py::arg("rho") = 0.9, py::arg("epsilon") = 1e-7, MYELIN_CLIP_ARGS);
  py::class_<Adagrad, Optimizer, std::shared_ptr<Adagrad>>(m, "Adagrad").def(
      py::init([](py::object lr, double init, double eps, optional<double> cn, optional<double> cv,
                  optional<double> gcn) { return make<Adagrad>(lr, clip_options(cn, cv, gcn), init, eps); }),
      py::arg("learning_rate") = 0.001, py::arg("initial_accumulator_value") = 0.1, py::arg("epsilon") = 1e-7,
      MYELIN_CLIP_ARGS);
#undef MYELIN_CLIP_ARGS

  m.def("get_optimizer", &optimizers::get, py::arg("name"));
}

}  // namespace myelin::python
