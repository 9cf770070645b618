// Callbacks called by fit() at the start and end of training, epochs and batches (Keras's names).
#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "myelin/history.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

class Model;

class Callback {
 public:
  virtual ~Callback() = default;
  /// Set by fit() before on_train_begin.
  void set_model(Model* model) { model_ = model; }
  Model& model() const { return *model_; }

  virtual void on_train_begin(const Logs&) {}
  virtual void on_train_end(const Logs&) {}
  virtual void on_epoch_begin(int /*epoch*/, const Logs&) {}
  /// Logs hold the epoch's loss and metrics, and val_* ones when validating.
  virtual void on_epoch_end(int /*epoch*/, const Logs&) {}
  virtual void on_train_batch_begin(int /*batch*/, const Logs&) {}
  /// Logs hold the running loss and metrics of the epoch so far.
  virtual void on_train_batch_end(int /*batch*/, const Logs&) {}

 protected:
  Model* model_ = nullptr;
};

namespace callbacks {

/// Stops training when `monitor` has not improved by more than min_delta for `patience` epochs.
/// mode "auto" minimises unless the name contains "acc", "auc", "precision" or "recall".
/// With restore_best_weights, the weights of the best epoch are put back when training ends.
class EarlyStopping : public Callback {
 public:
  struct Options {
    std::string monitor = "val_loss";
    double min_delta = 0.0;
    int patience = 0;
    std::string mode = "auto";
    bool restore_best_weights = false;
    double baseline = std::numeric_limits<double>::quiet_NaN();  ///< NaN: none
    int start_from_epoch = 0;
  };
  EarlyStopping() : EarlyStopping(Options{}) {}
  explicit EarlyStopping(Options options);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  void on_train_end(const Logs&) override;
  /// The epoch (0-based) at which training was stopped, or -1.
  int stopped_epoch() const { return stopped_epoch_; }
  int best_epoch() const { return best_epoch_; }

 private:
  bool improved(double value, double reference) const;
  Options o_;
  bool minimize_ = true;
  double best_ = 0;
  int wait_ = 0, stopped_epoch_ = -1, best_epoch_ = -1;
  std::vector<Tensor> best_weights_;
};

/// Stops training as soon as a batch's loss is NaN or infinite, naming the epoch and batch.
class TerminateOnNaN : public Callback {
 public:
  void on_epoch_begin(int epoch, const Logs&) override { epoch_ = epoch; }
  void on_train_batch_end(int batch, const Logs& logs) override;
  bool terminated() const { return terminated_; }

 private:
  int epoch_ = 0;
  bool terminated_ = false;
};

/// Multiplies the learning rate by `factor` when `monitor` has not improved for `patience` epochs.
class ReduceLROnPlateau : public Callback {
 public:
  struct Options {
    std::string monitor = "val_loss";
    double factor = 0.1;
    int patience = 10;
    std::string mode = "auto";
    double min_delta = 1e-4;
    int cooldown = 0;
    double min_lr = 0.0;
    int verbose = 0;
  };
  ReduceLROnPlateau() : ReduceLROnPlateau(Options{}) {}
  explicit ReduceLROnPlateau(Options options);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, const Logs& logs) override;

 private:
  Options o_;
  bool minimize_ = true;
  double best_ = 0;
  int wait_ = 0, cooldown_left_ = 0;
};

/// Calls the functions given, for one-off hooks without writing a class.
class LambdaCallback : public Callback {
 public:
  std::function<void(const Logs&)> train_begin, train_end;
  std::function<void(int, const Logs&)> epoch_begin, epoch_end, batch_begin, batch_end;

  void on_train_begin(const Logs& l) override { if (train_begin) train_begin(l); }
  void on_train_end(const Logs& l) override { if (train_end) train_end(l); }
  void on_epoch_begin(int e, const Logs& l) override { if (epoch_begin) epoch_begin(e, l); }
  void on_epoch_end(int e, const Logs& l) override { if (epoch_end) epoch_end(e, l); }
  void on_train_batch_begin(int b, const Logs& l) override { if (batch_begin) batch_begin(b, l); }
  void on_train_batch_end(int b, const Logs& l) override { if (batch_end) batch_end(b, l); }
};

/// Whether a monitored quantity should go up: names holding acc, auc, precision or recall do.
bool monitor_maximizes(const std::string& monitor, const std::string& mode);

}  // namespace callbacks

/// What fit() takes as a callback. A named callback object is used in place, as in Keras, so
/// `EarlyStopping es(...); model.fit(x, y, {.callbacks = {es}}); es.stopped_epoch();` reads the
/// state of that run (the object must outlive fit). A temporary is moved into shared ownership.
class CallbackArg {
 public:
  template <class C, class = std::enable_if_t<std::is_base_of_v<Callback, C>>>
  CallbackArg(C& c) : ptr_(std::shared_ptr<Callback>(std::shared_ptr<Callback>{}, &c)) {}
  template <class C, class = std::enable_if_t<std::is_base_of_v<Callback, std::decay_t<C>> &&
                                              !std::is_lvalue_reference_v<C>>>
  CallbackArg(C&& c) : ptr_(std::make_shared<std::decay_t<C>>(std::forward<C>(c))) {}
  template <class C, class = std::enable_if_t<std::is_base_of_v<Callback, C>>>
  CallbackArg(std::shared_ptr<C> c) : ptr_(std::move(c)) {}
  const std::shared_ptr<Callback>& get() const { return ptr_; }

 private:
  std::shared_ptr<Callback> ptr_;
};

}  // namespace myelin
