// Callbacks: the C++ ones with Keras's arguments, and the adapter through which fit() calls Python
// callbacks and notices Ctrl-C while it runs without the GIL.
#include <algorithm>
#include <cmath>
#include <limits>

#include "bindings.hpp"

#include <myelin/callbacks.hpp>
#include <myelin/callbacks/checkpoint.hpp>
#include <myelin/model.hpp>

namespace myelin::python {

namespace {

// Calls a Python callback object's hooks. fit() runs with the GIL released; each call takes it
// back. Only the hooks the object implements are called, so a callback that watches epochs costs
// the batch loop nothing. A Python exception (KeyboardInterrupt included) is kept in the fit's
// context and stops training after the current batch; fit() raises it once the loop has ended.
class PythonCallback : public Callback {
 public:
  PythonCallback(py::object obj, const std::vector<std::string>& hooks, FitContext& ctx)
      : obj_(std::move(obj)), ctx_(ctx) {
    auto has = [&](const char* name) { return std::find(hooks.begin(), hooks.end(), name) != hooks.end(); };
    train_begin_ = has("on_train_begin");
    train_end_ = has("on_train_end");
    epoch_begin_ = has("on_epoch_begin");
    epoch_end_ = has("on_epoch_end");
    batch_begin_ = has("on_train_batch_begin");
    batch_end_ = has("on_train_batch_end");
  }
  ~PythonCallback() override {
    py::gil_scoped_acquire gil;
    obj_ = py::object();
  }

  void on_train_begin(const Logs& l) override {
    if (train_begin_) call("on_train_begin", l);
  }
  void on_train_end(const Logs& l) override {
    if (train_end_) call("on_train_end", l);
  }
  void on_epoch_begin(int e, const Logs& l) override {
    if (epoch_begin_) call("on_epoch_begin", l, e);
  }
  void on_epoch_end(int e, const Logs& l) override {
    if (epoch_end_) call("on_epoch_end", l, e);
  }
  void on_train_batch_begin(int b, const Logs& l) override {
    if (batch_begin_) call("on_train_batch_begin", l, b);
  }
  void on_train_batch_end(int b, const Logs& l) override {
    if (batch_end_) call("on_train_batch_end", l, b);
  }

 private:
  void call(const char* hook, const Logs& logs, int index = -1) {
    if (ctx_.error) return;  // after an exception, as Keras, no more Python code runs
    py::gil_scoped_acquire gil;
    flush_c_stdout();  // the progress bar's text first, then whatever the callback prints
    try {
      if (index >= 0) obj_.attr(hook)(index, logs_to_dict(logs));
      else obj_.attr(hook)(logs_to_dict(logs));
      flush_python_stdout();
    } catch (py::error_already_set& e) {
      ctx_.error = std::move(e);
      model().stop_training = true;
    }
  }

  py::object obj_;
  FitContext& ctx_;
  bool train_begin_, train_end_, epoch_begin_, epoch_end_, batch_begin_, batch_end_;
};

// Runs Python's signal handlers after each batch. While fit() holds no GIL, Ctrl-C only sets a
// flag; here the handler raises KeyboardInterrupt, which stops training after this batch, leaving
// the weights as the last complete step made them.
class InterruptCheck : public Callback {
 public:
  explicit InterruptCheck(FitContext& ctx) : ctx_(ctx) {}
  void on_train_batch_end(int, const Logs&) override {
    if (ctx_.error) return;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      ctx_.error = py::error_already_set();
      model().stop_training = true;
    }
  }

 private:
  FitContext& ctx_;
};

// A C++ callback (EarlyStopping, BackupAndRestore, ...) as fit() sees it from Python: once a Python
// callback has raised or Ctrl-C was pressed, none of its hooks run any more, on_train_end included,
// as in Keras where the exception leaves fit at once. Without this, BackupAndRestore would back up
// the interrupted epoch as if complete and then delete the backup at the end of the stopped fit,
// and EarlyStopping would put weights back after a failure.
class StopsOnPythonError : public Callback {
 public:
  StopsOnPythonError(std::shared_ptr<Callback> inner, FitContext& ctx) : inner_(std::move(inner)), ctx_(ctx) {}

  void on_train_begin(const Logs& l) override {
    if (live()) inner_->on_train_begin(l);
  }
  void on_train_end(const Logs& l) override {
    if (live()) inner_->on_train_end(l);
  }
  void on_epoch_begin(int e, const Logs& l) override {
    if (live()) inner_->on_epoch_begin(e, l);
  }
  void on_epoch_end(int e, const Logs& l) override {
    if (live()) inner_->on_epoch_end(e, l);
  }
  void on_train_batch_begin(int b, const Logs& l) override {
    if (live()) inner_->on_train_batch_begin(b, l);
  }
  void on_train_batch_end(int b, const Logs& l) override {
    if (live()) inner_->on_train_batch_end(b, l);
  }

 private:
  bool live() {
    inner_->set_model(model_);  // fit() sets the model on this wrapper, not on the callback inside
    return !ctx_.error;
  }

  std::shared_ptr<Callback> inner_;
  FitContext& ctx_;
};

double nan_if_none(std::optional<double> v) { return v.value_or(std::numeric_limits<double>::quiet_NaN()); }

}  // namespace

std::shared_ptr<Callback> make_python_callback(py::object obj, const std::vector<std::string>& hooks,
                                               FitContext& ctx) {
  return std::make_shared<PythonCallback>(std::move(obj), hooks, ctx);
}

std::shared_ptr<Callback> make_interrupt_check(FitContext& ctx) { return std::make_shared<InterruptCheck>(ctx); }

std::shared_ptr<Callback> make_native_callback(std::shared_ptr<Callback> callback, FitContext& ctx) {
  return std::make_shared<StopsOnPythonError>(std::move(callback), ctx);
}

void init_callbacks(py::module_& m) {
  py::class_<Callback, std::shared_ptr<Callback>>(m, "Callback");
  using namespace callbacks;

  py::class_<EarlyStopping, Callback, std::shared_ptr<EarlyStopping>>(m, "EarlyStopping")
      .def(py::init([](std::string monitor, double min_delta, int patience, std::string mode,
                       std::optional<double> baseline, bool restore_best_weights, int start_from_epoch) {
             return std::make_shared<EarlyStopping>(
                 EarlyStopping::Options{monitor, min_delta, patience, mode, restore_best_weights,
                                        nan_if_none(baseline), start_from_epoch});
           }),
           py::arg("monitor") = "val_loss", py::arg("min_delta") = 0.0, py::arg("patience") = 0,
           py::arg("mode") = "auto", py::arg("baseline") = py::none(), py::arg("restore_best_weights") = false,
           py::arg("start_from_epoch") = 0)
      .def_property_readonly("stopped_epoch", &EarlyStopping::stopped_epoch)
      .def_property_readonly("best_epoch", &EarlyStopping::best_epoch);

  py::class_<ReduceLROnPlateau, Callback, std::shared_ptr<ReduceLROnPlateau>>(m, "ReduceLROnPlateau")
      .def(py::init([](std::string monitor, double factor, int patience, int verbose, std::string mode,
                       double min_delta, int cooldown, double min_lr) {
             return std::make_shared<ReduceLROnPlateau>(
                 ReduceLROnPlateau::Options{monitor, factor, patience, mode, min_delta, cooldown, min_lr, verbose});
           }),
           py::arg("monitor") = "val_loss", py::arg("factor") = 0.1, py::arg("patience") = 10,
           py::arg("verbose") = 0, py::arg("mode") = "auto", py::arg("min_delta") = 1e-4, py::arg("cooldown") = 0,
           py::arg("min_lr") = 0.0);

  py::class_<TerminateOnNaN, Callback, std::shared_ptr<TerminateOnNaN>>(m, "TerminateOnNaN")
      .def(py::init<>())
      .def_property_readonly("terminated", &TerminateOnNaN::terminated);

  py::class_<ModelCheckpoint, Callback, std::shared_ptr<ModelCheckpoint>>(m, "ModelCheckpoint")
      .def(py::init([](std::string filepath, std::string monitor, bool save_best_only, bool save_weights_only,
                       std::string mode) {
             return std::make_shared<ModelCheckpoint>(
                 filepath, ModelCheckpoint::Options{monitor, save_best_only, save_weights_only, mode});
           }),
           py::arg("filepath"), py::arg("monitor") = "val_loss", py::arg("save_best_only") = false,
           py::arg("save_weights_only") = false, py::arg("mode") = "auto")
      .def_property_readonly("saved_epochs", &ModelCheckpoint::saved_epochs);

  py::class_<BackupAndRestore, Callback, std::shared_ptr<BackupAndRestore>>(m, "BackupAndRestore")
      .def(py::init<std::string>(), py::arg("backup_dir"))
      .def_property_readonly("restored_epoch", &BackupAndRestore::restored_epoch);

  py::class_<CSVLogger, Callback, std::shared_ptr<CSVLogger>>(m, "CSVLogger")
      .def(py::init([](std::string filename, std::string separator, bool append) {
             if (separator.size() != 1) throw py::value_error("CSVLogger: separator must be one character");
             return std::make_shared<CSVLogger>(filename, separator[0], append);
           }),
           py::arg("filename"), py::arg("separator") = ",", py::arg("append") = false);
}

}  // namespace myelin::python
