// fit, evaluate, predict and train_on_batch: the training loop over a model's graph, the checks of
// the data they are given, metrics and their reduction over ranks.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>

#include "batch_stream.hpp"
#include "dataset_prefetcher.hpp"
#include "distributed/collectives.hpp"
#include "graph/graph.hpp"
#include "model_memory.hpp"
#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/checks.hpp"
#include "kernels/cpu/side_core.hpp"
#include "myelin/distributed.hpp"
#include "myelin/error.hpp"
#include "myelin/model.hpp"
#include "myelin/threading.hpp"
#include "progress_bar.hpp"

namespace myelin {

namespace {

int64_t last_width(const Shape& s) { return s.empty() ? 1 : s.back(); }

// Values per sample in the last axis of targets ({n} labels have 1).
int64_t target_width(const Tensor& y) { return y.ndim() >= 2 ? y.dim(-1) : 1; }

// Rows in a dataset's largest batch (its size is -1 while unknown).
int64_t dataset_batch_rows(int64_t batch_size, const data::Dataset& data) {
  return data.size() < 0 ? batch_size : std::min<int64_t>(batch_size, data.size());
}

// With several ranks, an error on one of them would leave the others waiting forever in the next
// collective: the rank that fails stops them all, with its message.
template <class F>
auto run_on_every_rank(const char* what, F&& f) -> decltype(f()) {
  if (distributed::size() == 1) return f();
  try {
    return f();
  } catch (const std::exception& e) {
    const std::string message = e.what();
    distributed::abort_all(message.rfind(what, 0) == 0 ? message : std::string(what) + ": " + message);
  }
}
}  // namespace

namespace {
// Below this many forward FLOPs per input value a model counts as light (bench/README.md, "Batch
// prefetching"): the MLP has 64, the CNN thousands.
constexpr int64_t kLightModelFlopsPerInput = 1024;
// Batches smaller than this many values are gathered in line.
constexpr int64_t kMinPrefetchValues = 1 << 16;

// Sets the kernels' thread count for a scope and restores it, even when training throws.
class ThreadCountGuard {
 public:
  explicit ThreadCountGuard(int n) : saved_(num_threads()) { set_num_threads(n); }
  ~ThreadCountGuard() { set_num_threads(saved_); }

 private:
  int saved_;
};

// For one fit call, the augmentation layers that open the model (Graph::front_augmentations) run on
// the stream's data thread as each batch is read, so they cost the training step nothing; the step
// passes their input through. The layers draw from their own streams in batch order either way, so
// the batches are the same as when the step runs them, and where they run is free to depend on the
// machine: only where a core is left over by the compute threads. Without one the data thread
// takes its time from the step's threads, whose barriers then wait for it: the CNN's epoch took
// 1.18x the in-step one on 2 cores with 2 compute threads, and 0.84x with 1 (bench/README.md,
// "Image folders").
class DataThreadAugmentation {
 public:
  explicit DataThreadAugmentation(graph::Graph& graph)
      : graph_(graph),
        nodes_(num_cores() > num_threads() ? graph.front_augmentations() : std::vector<int>{}) {}
  ~DataThreadAugmentation() { graph_.set_on_data_thread(nodes_, false); }
  DataThreadAugmentation(const DataThreadAugmentation&) = delete;
  DataThreadAugmentation& operator=(const DataThreadAugmentation&) = delete;
  bool active() const { return !nodes_.empty(); }
  // The stream must be destroyed before this object (declared after it).
  void attach(BatchStream& stream) {
    if (nodes_.empty()) return;
    graph_.set_on_data_thread(nodes_, true);
    stream.set_input_transform([this](Tensor& x) {
      // The data thread computes alone: an OpenMP team started from it would fight the step's
      // threads for the cores (1.5x slower epochs on 2 cores, bench/README.md "Image folders").
      ThreadCountGuard alone(1);
      const Tensor* v = &x;
      for (int k : nodes_) v = &graph_.nodes()[size_t(k)].layer->forward(*v, /*training=*/true);
      if (v != &x) x.copy_from(*v);
    });
  }

 private:
  graph::Graph& graph_;
  std::vector<int> nodes_;
};
}  // namespace


void Model::check_compiled(const char* what) const {
  if (!optimizer_)
    throw Error(std::string(what) + ": the model must be compiled first (model.compile(optimizer, loss, metrics))");
}

const Tensor& Model::forward(std::span<const Tensor> x, bool training) {
  step_inputs_.resize(x.size());
  for (size_t k = 0; k < x.size(); ++k) step_inputs_[k] = &x[k];
  return graph_->forward(step_inputs_, training);
}

const Tensor& Model::output_value(size_t k) const { return graph_->output(k); }

double Model::output_loss(Output& o, const Tensor& y, const Tensor& out, const Tensor* sw, Tensor* grad) {
  const float* weights = sw ? sw->data() : nullptr;
  // A fused head's loss writes the predictions as it computes them (o.probs).
  if (o.head_activation) return o.step_loss->compute_activated(y, out, grad, weights, *o.head_activation, o.probs);
  return weights ? o.step_loss->compute_weighted(y, out, grad, weights) : o.step_loss->compute(y, out, grad);
}

const Tensor& Model::prediction(const Output& o, const Tensor& out) const {
  return o.head_activation ? o.probs : out;
}

const Tensor& Model::head_output(Output& o, const Tensor& out) {
  if (!o.head_activation) return out;
  o.probs.resize(out.shape());
  kernels::bias_activation_forward(*o.head_activation, out.data(), nullptr, nullptr, o.probs.data(),
                                   out.size() / last_width(out.shape()), last_width(out.shape()));
  return o.probs;
}

double Model::regularization_penalty() {
  if (!has_regularizers_) return 0.0;
  double total = 0;
  for (const auto& p : params_)
    if (p.regularizer && p.regularizer->active()) total += p.regularizer->penalty(*p.value);
  return total;
}

namespace {
std::vector<int64_t> target_widths(std::span<const Tensor> y) {
  std::vector<int64_t> w;
  for (const auto& t : y) w.push_back(target_width(t));
  return w;
}
std::vector<int64_t> target_widths(const std::vector<Shape>& shapes) {
  std::vector<int64_t> w;
  for (const auto& s : shapes) w.push_back(last_width(s));
  return w;
}
}  // namespace

double Model::train_step(std::span<const Tensor> x, std::span<const Tensor> y, std::span<const Tensor> w,
                         int64_t global_rows) {
  const int64_t rows = x[0].rows();
  const bool distributed = distributed::size() > 1;
  const size_t n = outputs_.size();
  const bool class_weights = !class_weight_classes_.empty();
  double loss = 0;
  distributed::OverlappedAllreduce reduce;
  if (rows > 0) {
    forward(x, true);
    step_output_grads_.resize(n);
    // Each output's loss is a mean over this rank's rows; weighting it by their share of the step
    // makes the sum over ranks the mean over the whole step, as one process would compute it.
    const double share = double(rows) / double(global_rows);
    for (size_t k = 0; k < n; ++k) {
      Output& o = outputs_[k];
      const Tensor* sw = step_weights(k, y, w, class_weights);
      const double value = output_loss(o, y[k], output_value(k), sw, &o.loss_grad);
      output_losses_[k] = o.loss_weight * value;
      loss += output_losses_[k];
      const float scale = float(o.loss_weight * share);
      if (scale != 1.f) {
        float* g = o.loss_grad.data();
        for (int64_t i = 0; i < o.loss_grad.size(); ++i) g[i] *= scale;
      }
      step_output_grads_[k] = &o.loss_grad;
    }
    // Each node's gradients are final once its backward is done: sum them over the ranks while the
    // layers below go on.
    if (distributed) {
      struct Context {
        distributed::OverlappedAllreduce* reduce;
        std::vector<std::vector<Tensor*>>* grads;
      } context{&reduce, &node_grads_};
      graph_->backward(step_output_grads_, [](void* c, int node) {
        auto& ctx = *static_cast<Context*>(c);
        for (Tensor* grad : (*ctx.grads)[size_t(node)]) ctx.reduce->start(grad->data(), grad->size());
      }, &context);
    } else {
      graph_->backward(step_output_grads_);
    }
    step_preds_.resize(n);
    for (size_t k = 0; k < n; ++k) step_preds_[k] = &prediction(outputs_[k], output_value(k));
    for (auto& m : metrics_) {
      const Tensor* sw = m.weighted ? step_weights(m.output, y, w, class_weights) : nullptr;
      if (sw) m.metric->update_weighted(y[m.output], *step_preds_[m.output], sw->data());
      else m.metric->update(y[m.output], *step_preds_[m.output]);
    }
  } else {
    // A short last step can leave a rank without rows: it adds zeros to the sum.
    for (const auto& p : params_) p.grad->fill(0.0f);
    for (auto& grads : node_grads_)
      for (Tensor* grad : grads) reduce.start(grad->data(), grad->size());
    std::fill(output_losses_.begin(), output_losses_.end(), 0.0);
  }
  if (distributed) {
    reduce.wait();
    for (size_t k = 0; k < n; ++k) loss_sums_[k] = output_losses_[k] * double(rows);
    distributed::allreduce_sum(loss_sums_.data(), int64_t(n));
    loss = 0;
    for (size_t k = 0; k < n; ++k) {
      output_losses_[k] = loss_sums_[k] / double(global_rows);
      loss += output_losses_[k];
    }
  }
  loss += regularization_penalty();
  // A non-finite loss would turn every weight into NaN: the step is skipped and fit stops.
  if (!std::isfinite(loss)) return loss;
  if (has_regularizers_)
    for (const auto& p : params_)
      if (p.regularizer && p.regularizer->active()) p.regularizer->add_gradient(*p.value, *p.grad);
  optimizer_->apply(params_);
  return loss;
}

double Model::train_on_batch(const Tensor& x, const Tensor& y) {
  // Tensors go straight into the batch's arrays: a steady-state step allocates nothing.
  check_compiled("train_on_batch");
  batch_.x.resize(1);
  batch_.x[0] = x;
  ensure_built(batch_.x, "train_on_batch");
  if (outputs_.size() != 1)
    throw ValueError("train_on_batch: " + kind() + " has " + std::to_string(outputs_.size()) +
                     " outputs; give y as a list or a map by output name");
  if (graph_->inputs().size() != 1)
    throw ValueError("train_on_batch: " + kind() + " has " + std::to_string(graph_->inputs().size()) +
                     " inputs; give x as a list or a map by input name");
  batch_.y.resize(1);
  batch_.y[0] = y;
  batch_.w.clear();
  return train_on_arrays("train_on_batch");
}

double Model::train_on_batch(const DataArg& x, const DataArg& y, const DataArg& sample_weight) {
  check_compiled("train_on_batch");
  resolve_arrays(x, y, sample_weight, "train_on_batch", batch_);
  return train_on_arrays("train_on_batch");
}

double Model::train_on_arrays(const char* what) {
  check_arrays(batch_, what);
  update_trainable();
  if (!metrics_resolved_) resolve_metrics(target_widths(batch_.y));
  reset_metrics();
  return train_step(batch_.x, batch_.y, batch_.w, batch_.rows());
}

Logs Model::metric_results() const {
  Logs logs;
  for (const auto& m : metrics_) logs.set(m.key, m.metric->result());
  return logs;
}

void Model::reduce_metrics(int64_t rows) {
  if (distributed::size() == 1) return;
  for (auto& m : metrics_) {
    const auto states = distributed::allgather(m.metric->state());
    if (!states[distributed::rank()].empty()) {
      // Built-in metrics: the sum of every rank's counts.
      m.metric->reset();
      for (const auto& st : states) m.metric->merge_state(st);
      continue;
    }
    // A metric without a state: each rank's result weighted by its rows. Its value is then held
    // by a Logs entry only (see metric_results_override_).
    const auto results = distributed::allgather({m.metric->result() * double(rows), double(rows)});
    double sum = 0, total = 0;
    for (const auto& r : results) sum += r[0], total += r[1];
    metric_overrides_[m.key] = total > 0 ? sum / total : 0.0;
  }
}

Logs Model::reduced_metric_results(int64_t rows) {
  metric_overrides_.clear();
  reduce_metrics(rows);
  Logs logs = metric_results();
  for (const auto& [k, v] : metric_overrides_) logs.set(k, v);
  return logs;
}

void Model::log_output_losses(Logs& logs, const std::vector<double>& sums, double rows) const {
  if (outputs_.size() < 2) return;  // a single output's loss is "loss" itself, as in Keras
  for (size_t k = 0; k < outputs_.size(); ++k) logs.set(outputs_[k].loss_key, rows > 0 ? sums[k] / rows : 0.0);
}

void Model::check_fit_options(const FitOptions& o) const {
  check_compiled("fit");
  if (o.epochs < 0) throw ValueError("fit: epochs must be >= 0, got " + std::to_string(o.epochs));
  if (o.batch_size <= 0) throw ValueError("fit: batch_size must be positive, got " + std::to_string(o.batch_size));
  if (!(o.validation_split >= 0.0 && o.validation_split < 1.0))
    throw ValueError("fit: validation_split must be in [0, 1), got " + std::to_string(o.validation_split));
  for (const auto& [c, w] : o.class_weight) {
    if (c < 0) throw ValueError("fit: class_weight has class " + std::to_string(c) + "; classes are indices >= 0");
    if (!(std::isfinite(w) && w >= 0))
      throw ValueError("fit: class_weight for class " + std::to_string(c) + " is " + std::to_string(w) +
                       "; weights must be finite and >= 0");
  }
}

namespace {
// fit's class weights hold for its own steps only: evaluate and later calls go unweighted.
class ClassWeightScope {
 public:
  ClassWeightScope(std::vector<int>& classes, std::vector<float>& values, const std::map<int, double>& weights)
      : classes_(classes), values_(values) {
    classes_.clear();
    values_.clear();
    for (const auto& [c, w] : weights) {  // a map iterates in ascending order, as the kernel's lookup needs
      classes_.push_back(c);
      values_.push_back(float(w));
    }
  }
  ~ClassWeightScope() {
    classes_.clear();
    values_.clear();
  }

 private:
  std::vector<int>& classes_;
  std::vector<float>& values_;
};
}  // namespace

std::optional<Model::Arrays> Model::validation_arrays(const FitOptions& o) {
  if (!o.validation_data) return std::nullopt;
  Arrays val;
  resolve_arrays(o.validation_data->x, o.validation_data->y, o.validation_data->sample_weight, "fit (validation_data)",
                 val);
  check_arrays(val, "fit (validation_data)");
  return val;
}

History Model::fit(const DataArg& x, const DataArg& y, const FitOptions& o) {
  return run_on_every_rank("fit", [&] {
    check_fit_options(o);
    Arrays all;
    resolve_arrays(x, y, o.sample_weight, "fit", all);
    check_arrays(all, "fit");
    resolve_metrics(target_widths(all.y));
    check_same_rows_on_every_rank(all.rows(), "fit");

    // Keras holds out the last rows, before any shuffling.
    Arrays train = all;
    std::optional<Arrays> val = validation_arrays(o);
    if (o.validation_split > 0) {
      const int64_t split_at = int64_t(double(all.rows()) * (1.0 - o.validation_split));
      if (split_at <= 0 || split_at >= all.rows())
        throw ValueError("fit: validation_split " + std::to_string(o.validation_split) + " of " +
                         std::to_string(all.rows()) + " rows leaves no training or no validation data");
      train = all.slice(0, split_at);
      val = all.slice(split_at, all.rows());
    }
    return fit_arrays(train, val ? &*val : nullptr, o);
  });
}

History Model::fit_arrays(const Arrays& data, const Arrays* val, const FitOptions& o) {
  mark_class_weighted(!o.class_weight.empty());
  ClassWeightScope class_weights(class_weight_classes_, class_weight_values_, o.class_weight);
  const int64_t bs = std::min<int64_t>(o.batch_size, data.rows());
  check_batch_fits(*memory_, optimizer_.get(), bs, /*training=*/true, "fit");
  int64_t row_values = 0;
  for (const auto& t : data.x) row_values += t.row_size();
  // A light model (little arithmetic per input value, as an MLP) spends much of its step copying
  // scattered rows out of memory: one thread then gathers the next batch in the background while
  // the others compute (MLP epoch 0.053 s -> 0.043 s on two cores). A heavy model keeps every thread
  // for arithmetic, and a small batch is not worth a hand-over between threads (~50 us). The choice
  // depends on the model, the batch and the thread count only, never on timing, so results stay
  // reproducible for a given thread count.
  const bool background = num_threads() > 1 && bs * row_values >= kMinPrefetchValues && light_model();
  ThreadCountGuard compute_threads(background ? num_threads() - 1 : num_threads());
  // Augmentation at the front gets a data thread of its own, the compute threads staying as they are.
  DataThreadAugmentation augmentation(*graph_);
  auto stream = make_tensor_stream(data.x, data.y, data.w, bs, background || augmentation.active(), background);
  augmentation.attach(*stream);
  return fit_loop(*stream, o, [&](Logs& logs) {
    if (!val) return;
    // Validation is not weighted by class_weight (evaluate_batch never applies it), as in Keras.
    const Logs v = evaluate_arrays(*val, {.batch_size = o.batch_size, .verbose = 0});
    for (const auto& [k, value] : v) logs.set("val_" + k, value);
  });
}

History Model::fit(data::Dataset& data, const FitOptions& o) {
  return run_on_every_rank("fit", [&] {
    check_fit_options(o);
    if (o.validation_split > 0)
      throw ValueError("fit: validation_split needs arrays (it holds out their last rows); with a Dataset, "
                       "pass validation_data or validation_dataset");
    if (!o.sample_weight.empty())
      throw ValueError("fit: sample_weight goes with arrays; a Dataset carries its own (see "
                       "Dataset::sample_weight_count)");
    check_dataset(data, "fit");
    check_batch_fits(*memory_, optimizer_.get(), dataset_batch_rows(o.batch_size, data), /*training=*/true, "fit");
    resolve_metrics(target_widths(data.y_shapes()));
    std::optional<Arrays> val = validation_arrays(o);
    if (o.validation_dataset) check_dataset(*o.validation_dataset, "fit (validation_dataset)");
    mark_class_weighted(!o.class_weight.empty());
    ClassWeightScope class_weights(class_weight_classes_, class_weight_values_, o.class_weight);
    // Reading a file waits on the disk and parses text: always on a thread of its own. The compute
    // threads are shared with it as for arrays: a light model gives one up.
    const bool light = num_threads() > 1 && light_model();
    ThreadCountGuard compute_threads(light ? num_threads() - 1 : num_threads());
    DataThreadAugmentation augmentation(*graph_);
    auto stream = make_dataset_stream(data, o.batch_size, /*background=*/true);
    augmentation.attach(*stream);
    return fit_loop(*stream, o, [&](Logs& logs) {
      Logs v;
      if (val) v = evaluate_arrays(*val, {.batch_size = o.batch_size, .verbose = 0});
      else if (o.validation_dataset)
        v = evaluate_dataset_locked(*o.validation_dataset, {.batch_size = o.batch_size, .verbose = 0});
      else
        return;
      for (const auto& [k, value] : v) logs.set("val_" + k, value);
    });
  });
}

History Model::fit_loop(BatchStream& batches, const FitOptions& o, const std::function<void(Logs&)>& validate) {
  const bool primary = distributed::is_primary();
  const int verbose = primary ? o.verbose : 0;
  std::vector<std::shared_ptr<Callback>> cbs;
  for (const auto& c : o.callbacks) {
    cbs.push_back(c.get());
    cbs.back()->set_model(this);
  }
  // Each epoch's shuffle and dropout streams derive from (base, epoch) alone, so training resumed
  // at epoch k (initial_epoch, BackupAndRestore) draws exactly what an uninterrupted run would.
  fit_seed_ = o.seed ? *o.seed : rng_.next_u64();
  update_trainable();
  History history;
  stop_training = false;
  Logs logs, batch_logs;
  resume_epoch = -1;
  resume_fit_seed.reset();
  for (auto& c : cbs) c->on_train_begin(logs);
  const int first_epoch = resume_epoch >= 0 ? resume_epoch : o.initial_epoch;
  if (resume_fit_seed) fit_seed_ = *resume_fit_seed;
  resume_epoch = -1;
  resume_fit_seed.reset();
  // Every rank starts from rank 0's weights and draws rank 0's data order.
  distributed::broadcast(fit_seed_);
  for (const auto& w : weights_) distributed::broadcast(w.value->data(), w.value->size());

  const size_t n = outputs_.size();
  std::vector<double> output_sums(n);
  for (int epoch = first_epoch; epoch < o.epochs && !stop_training; ++epoch) {
    if (verbose) std::printf("Epoch %d/%d\n", epoch + 1, o.epochs);
    for (auto& c : cbs) c->on_epoch_begin(epoch, logs);
    Rng rng(fit_seed_ ^ (0x9e3779b97f4a7c15ULL * uint64_t(epoch + 1)));
    for (auto& n : graph_->nodes())
      if (n.layer) n.layer->reseed(rng);
    if (distributed::size() > 1) {
      // Dropout masks differ between ranks, as they differ between the rows of one batch.
      Rng rank_rng(fit_seed_ ^ (0xd1b54a32d192ed03ULL * uint64_t(epoch + 1)) ^ uint64_t(distributed::rank() + 1));
      for (auto& n : graph_->nodes())
        if (n.layer) n.layer->reseed(rank_rng);
    }
    batches.start_epoch(rng, o.shuffle);
    reset_metrics();
    ProgressBar bar(batches.steps(), verbose);
    double loss_sum = 0;
    std::fill(output_sums.begin(), output_sums.end(), 0.0);
    int64_t seen = 0, local_rows = 0, step = 0;
    for (;; ++step) {
      if (stop_training) break;
      const StepBatch b = batches.next();
      if (b.end()) break;
      if (!batches.prechecked()) check_batch(b.x, b.y, b.w, epoch, step);
      if (!cbs.empty())
        for (auto& c : cbs) c->on_train_batch_begin(int(step), batch_logs);
      const double batch_loss = [&] {
        // The step alone: validation and callbacks compute as they would outside fit.
        const kernels::SideCoreLoan side_core(batches.side_core());
        return train_step(b.x, b.y, b.w, b.global_rows);
      }();
      if (!std::isfinite(batch_loss)) {
        // Named here, whatever callbacks there are: training on NaN weights would only waste time.
        if (primary)
          std::fprintf(stderr, "fit: the loss is %s at epoch %d, batch %lld; training stopped (the weights are "
                       "those before this batch)\n", std::isnan(batch_loss) ? "nan" : "inf", epoch + 1,
                       (long long)step + 1);
        stop_training = true;
      }
      loss_sum += batch_loss * double(b.global_rows);
      for (size_t k = 0; k < n; ++k) output_sums[k] += output_losses_[k] * double(b.global_rows);
      seen += b.global_rows;
      local_rows += b.x[0].rows();
      if (!cbs.empty() || verbose == 1) {
        batch_logs.set("loss", loss_sum / double(seen));
        log_output_losses(batch_logs, output_sums, double(seen));
        for (const auto& m : metrics_) batch_logs.set(m.key, m.metric->result());
        // A NaN batch loss must reach TerminateOnNaN even when the running mean hides its batch.
        if (!std::isfinite(batch_loss)) batch_logs.set("loss", batch_loss);
        for (auto& c : cbs) c->on_train_batch_end(int(step), batch_logs);
        bar.update(step + 1, batch_logs);
      }
    }
    logs = reduced_metric_results(local_rows);
    logs.set("loss", seen ? loss_sum / double(seen) : 0.0);
    log_output_losses(logs, output_sums, double(seen));
    validate(logs);
    bar.finish(logs, step);
    history.append(epoch, logs);
    for (auto& c : cbs) c->on_epoch_end(epoch, logs);
  }
  for (auto& c : cbs) c->on_train_end(logs);
  return history;
}

Logs Model::evaluate(const DataArg& x, const DataArg& y, const EvaluateOptions& options) {
  return run_on_every_rank("evaluate", [&] {
    std::lock_guard<std::mutex> lock(*inference_mutex_);
    check_compiled("evaluate");
    if (options.batch_size <= 0) throw ValueError("evaluate: batch_size must be positive");
    Arrays a;
    resolve_arrays(x, y, options.sample_weight, "evaluate", a);
    check_arrays(a, "evaluate");
    return evaluate_arrays(a, options);
  });
}

Logs Model::evaluate(data::Dataset& data, const EvaluateOptions& options) {
  return run_on_every_rank("evaluate", [&] {
    std::lock_guard<std::mutex> lock(*inference_mutex_);
    return evaluate_dataset_locked(data, options);
  });
}

void Model::evaluate_batch(std::span<const Tensor> x, std::span<const Tensor> y, std::span<const Tensor> w) {
  const int64_t rows = x[0].rows();
  if (rows == 0) return;
  forward(x, false);
  const size_t n = outputs_.size();
  step_preds_.resize(n);
  for (size_t k = 0; k < n; ++k) {
    Output& o = outputs_[k];
    const Tensor* sw = step_weights(k, y, w, /*class_weights=*/false);
    const double value = output_loss(o, y[k], output_value(k), sw, nullptr);
    loss_sums_[k] += o.loss_weight * value * double(rows);
    step_preds_[k] = &prediction(o, output_value(k));
  }
  for (auto& m : metrics_) {
    const Tensor* sw = m.weighted ? step_weights(m.output, y, w, false) : nullptr;
    if (sw) m.metric->update_weighted(y[m.output], *step_preds_[m.output], sw->data());
    else m.metric->update(y[m.output], *step_preds_[m.output]);
  }
}

Logs Model::finish_evaluation(int64_t local_rows, ProgressBar& bar, int64_t steps) {
  // The sums of every output's loss and the row count, over all ranks.
  const size_t n = outputs_.size();
  loss_sums_[n] = double(local_rows);
  distributed::allreduce_sum(loss_sums_.data(), int64_t(n + 1));
  const double rows = loss_sums_[n];
  Logs logs = reduced_metric_results(local_rows);
  double total = 0;
  for (size_t k = 0; k < n; ++k) total += loss_sums_[k];
  logs.set("loss", (rows > 0 ? total / rows : 0.0) + regularization_penalty());
  log_output_losses(logs, loss_sums_, rows);
  bar.finish(logs, steps);
  return logs;
}

Logs Model::evaluate_arrays(const Arrays& a, const EvaluateOptions& o) {
  check_batch_fits(*memory_, optimizer_.get(), std::min<int64_t>(o.batch_size, a.rows()), /*training=*/false,
                   "evaluate");
  if (!metrics_resolved_) resolve_metrics(target_widths(a.y));
  check_same_rows_on_every_rank(a.rows(), "evaluate");
  reset_metrics();
  std::fill(loss_sums_.begin(), loss_sums_.end(), 0.0);
  // With several ranks each evaluates its own contiguous share of the rows.
  const int64_t n = a.rows(), ranks = distributed::size(), rank = distributed::rank();
  const int64_t lo = n * rank / ranks, hi = n * (rank + 1) / ranks;
  const int64_t steps = (hi - lo + o.batch_size - 1) / o.batch_size;
  ProgressBar bar(steps, distributed::is_primary() ? o.verbose : 0);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t b0 = lo + s * o.batch_size, b1 = std::min<int64_t>(hi, b0 + o.batch_size);
    const Arrays b = a.slice(b0, b1);
    evaluate_batch(b.x, b.y, b.w);
  }
  return finish_evaluation(hi - lo, bar, steps);
}

Logs Model::evaluate_dataset_locked(data::Dataset& data, const EvaluateOptions& o) {
  check_compiled("evaluate");
  if (o.batch_size <= 0) throw ValueError("evaluate: batch_size must be positive");
  if (!o.sample_weight.empty())
    throw ValueError("evaluate: sample_weight goes with arrays; a Dataset carries its own (see "
                     "Dataset::sample_weight_count)");
  check_dataset(data, "evaluate");
  check_batch_fits(*memory_, optimizer_.get(), dataset_batch_rows(o.batch_size, data), /*training=*/false,
                   "evaluate");
  if (!metrics_resolved_) resolve_metrics(target_widths(data.y_shapes()));
  reset_metrics();
  std::fill(loss_sums_.begin(), loss_sums_.end(), 0.0);
  auto stream = make_dataset_stream(data, o.batch_size, /*background=*/true);
  Rng unused(0);
  stream->start_epoch(unused, /*shuffle=*/false);
  ProgressBar bar(stream->steps(), distributed::is_primary() ? o.verbose : 0);
  int64_t rows = 0, step = 0;
  for (StepBatch b = stream->next(); !b.end(); b = stream->next(), ++step) {
    check_batch(b.x, b.y, b.w, -1, step);
    evaluate_batch(b.x, b.y, b.w);
    rows += b.x[0].rows();
  }
  return finish_evaluation(rows, bar, step);
}

Tensor Model::predict(const Tensor& x, int batch_size) {
  if (sequential_ || (graph_->inputs().size() == 1 && graph_->outputs().size() == 1)) {
    // One input and one output, the batch-1 latency path: no lists of arrays, so that the result is
    // about the only allocation (a list-based predict costs the MLP's 2 us call ~0.3 us more).
    if (batch_size <= 0) throw ValueError("predict: batch_size must be positive");
    std::lock_guard<std::mutex> lock(*inference_mutex_);
    const std::span<const Tensor> xs(&x, 1);
    ensure_built(xs, "predict");
    check_input_shapes(xs, "predict");
    const int64_t n = x.rows();
    check_batch_fits(*memory_, optimizer_.get(), std::min<int64_t>(batch_size, n), /*training=*/false, "predict");
    Tensor result(with_batch(n, graph_->nodes()[size_t(graph_->outputs()[0])].shape));
    const int64_t width = result.row_size();
    step_inputs_.resize(1);
    auto predict_batch = [&](const Tensor& batch, int64_t b0) {
      step_inputs_[0] = &batch;
      const Tensor& out = graph_->forward(step_inputs_, false);
      const Tensor& pred = outputs_.empty() ? out : head_output(outputs_[0], out);
      std::copy(pred.data(), pred.data() + batch.rows() * width, result.data() + b0 * width);
    };
    const int64_t step = inference_slice_rows(*memory_, std::min<int64_t>(batch_size, n));
    if (n <= step) predict_batch(x, 0);  // one batch: x itself, without a view
    else
      for (int64_t b0 = 0; b0 < n; b0 += step) predict_batch(x.rows(b0, std::min<int64_t>(n, b0 + step)), b0);
    return result;
  }
  auto out = predict(DataArg(x), batch_size);
  if (out.size() != 1)
    throw ValueError("predict: " + kind() + " has " + std::to_string(out.size()) +
                     " outputs; call predict(std::vector<Tensor>{x}) for one tensor per output");
  return out[0];
}

std::vector<Tensor> Model::predict(const DataArg& x, int batch_size) {
  if (batch_size <= 0) throw ValueError("predict: batch_size must be positive");
  std::lock_guard<std::mutex> lock(*inference_mutex_);
  std::vector<Tensor> xs;
  order_arrays(x, /*inputs=*/true, "predict", "x", xs);
  ensure_built(xs, "predict");
  return predict_arrays(xs, batch_size);
}

std::vector<Tensor> Model::predict_arrays(const std::vector<Tensor>& x, int batch_size) {
  // Shape only: scanning for NaN here would read the input twice and cost predict ~40% at batch
  // 1024; a NaN input gives NaN outputs for its row, as in Keras and PyTorch.
  check_input_shapes(x, "predict");
  const int64_t n = x[0].rows();
  for (size_t k = 1; k < x.size(); ++k)
    if (x[k].rows() != n)
      throw ShapeError("predict: x[0] ('" + input_names()[0] + "') has " + std::to_string(n) + " rows but x[" +
                       std::to_string(k) + "] ('" + input_names()[k] + "') has " + std::to_string(x[k].rows()));
  check_batch_fits(*memory_, optimizer_.get(), std::min<int64_t>(batch_size, n), /*training=*/false, "predict");
  const size_t outs = graph_->outputs().size();
  std::vector<Tensor> result;
  for (const auto& shape : output_shapes()) result.emplace_back(with_batch(n, shape));
  std::vector<Tensor> batch(x.size());
  const int64_t step = inference_slice_rows(*memory_, std::min<int64_t>(batch_size, n));
  for (int64_t b0 = 0; b0 < n; b0 += step) {
    const int64_t b1 = std::min<int64_t>(n, b0 + step);
    for (size_t k = 0; k < x.size(); ++k) batch[k] = x[k].rows(b0, b1);
    forward(batch, false);
    for (size_t k = 0; k < outs; ++k) {
      const Tensor& out = output_value(k);
      const Tensor& pred = k < outputs_.size() ? head_output(outputs_[k], out) : out;
      const int64_t width = result[k].row_size();
      std::copy(pred.data(), pred.data() + (b1 - b0) * width, result[k].data() + b0 * width);
    }
  }
  return result;
}

Tensor Model::predict(data::Dataset& data, int batch_size) {
  if (graph_ && graph_->outputs().size() != 1)
    throw ValueError("predict(dataset): " + kind() + " has " + std::to_string(graph_->outputs().size()) +
                     " outputs; call predict_outputs(dataset) for one tensor per output");
  return predict_outputs(data, batch_size)[0];
}

std::vector<Tensor> Model::predict_outputs(data::Dataset& data, int batch_size) {
  if (batch_size <= 0) throw ValueError("predict: batch_size must be positive");
  std::lock_guard<std::mutex> lock(*inference_mutex_);
  check_dataset(data, "predict", /*targets=*/false);
  check_batch_fits(*memory_, optimizer_.get(), dataset_batch_rows(batch_size, data), /*training=*/false, "predict");
  // Every rank predicts every row: predictions are this process's to keep.
  DatasetPrefetcher reader(data, batch_size, /*background=*/true);
  reader.start_epoch(0, /*shuffle=*/false);
  const size_t outs = graph_->outputs().size();
  std::vector<std::vector<float>> values(outs);
  int64_t rows = 0;
  std::vector<Tensor> slice;
  for (DatasetPrefetcher::Rows b = reader.next(); b; b = reader.next()) {
    check_input_shapes(*b.x, "predict");
    const int64_t n = (*b.x)[0].rows(), step = inference_slice_rows(*memory_, n);
    for (int64_t b0 = 0; b0 < n; b0 += step) {
      slice.clear();
      for (const Tensor& t : *b.x) slice.push_back(step < n ? t.rows(b0, std::min(n, b0 + step)) : t);
      forward(slice, false);
      for (size_t k = 0; k < outs; ++k) {
        const Tensor& pred = k < outputs_.size() ? head_output(outputs_[k], output_value(k)) : output_value(k);
        values[k].insert(values[k].end(), pred.data(), pred.data() + pred.size());
      }
    }
    rows += n;
  }
  std::vector<Tensor> result;
  const std::vector<Shape> shapes = output_shapes();
  for (size_t k = 0; k < outs; ++k) {
    result.emplace_back(with_batch(rows, shapes[k]));
    std::copy(values[k].begin(), values[k].end(), result.back().data());
  }
  return result;
}

void Model::check_dataset(const data::Dataset& data, const char* what, bool targets) {
  const std::vector<Shape> xs = data.x_shapes();
  build_for_data(xs);
  if (xs.size() != input_shapes_.size())
    throw ValueError(std::string(what) + ": the dataset yields " + std::to_string(xs.size()) + " x arrays but " +
                     kind() + " has " + std::to_string(input_shapes_.size()) + " inputs");
  for (size_t k = 0; k < xs.size(); ++k)
    if (xs[k] != input_shapes_[k])
      throw ShapeError(std::string(what) + ": the dataset's rows " +
                       (xs.size() > 1 ? "of x[" + std::to_string(k) + "] " : std::string()) + "have shape " +
                       shape_to_string(with_batch(-1, xs[k]), true) + " but the model expects " +
                       shape_to_string(with_batch(-1, input_shapes_[k]), true));
  if (!targets) return;  // predict reads the targets and ignores them
  const size_t ny = data.y_shapes().size();
  if (ny != graph_->outputs().size())
    throw ValueError(std::string(what) + ": the dataset yields " + std::to_string(ny) + " y arrays but " + kind() +
                     " has " + std::to_string(graph_->outputs().size()) + " outputs");
  const size_t nw = data.sample_weight_count();
  if (nw > 1 && nw != ny)
    throw ValueError(std::string(what) + ": the dataset yields " + std::to_string(nw) + " sample-weight arrays for " +
                     std::to_string(ny) + " outputs; it needs one serving every output or one per output");
}

void Model::check_batch(std::span<const Tensor> x, std::span<const Tensor> y, std::span<const Tensor> w, int epoch,
                        int64_t step) const {
  // Rows from a file are checked as they arrive, as fit(x, y) checks arrays up front.
  if (x[0].rows() == 0) return;
  auto where = [&] {
    return epoch >= 0 ? "fit: epoch " + std::to_string(epoch + 1) + ", batch " + std::to_string(step + 1)
                      : "evaluate: batch " + std::to_string(step + 1);
  };
  try {
    check_inputs(x, "");
    for (size_t k = 0; k < y.size(); ++k)
      if (y[k].rows() != x[0].rows())
        throw ShapeError("x has " + std::to_string(x[0].rows()) + " rows but y" +
                         (y.size() > 1 ? "[" + std::to_string(k) + "]" : std::string()) + " has " +
                         std::to_string(y[k].rows()));
    check_targets(y);
    check_sample_weights(w, x[0].rows(), "");
  } catch (const ShapeError& e) {
    std::string m = e.what();
    if (m.rfind(": ", 0) == 0) m = m.substr(2);
    throw ShapeError(where() + ": " + m);
  } catch (const IndexError& e) {
    std::string m = e.what();
    if (m.rfind(": ", 0) == 0) m = m.substr(2);
    throw IndexError(where() + ": " + m);
  } catch (const ValueError& e) {
    std::string m = e.what();
    if (m.rfind(": ", 0) == 0) m = m.substr(2);
    throw ValueError(where() + ": " + m);
  }
}

void Model::check_same_rows_on_every_rank(int64_t rows, const char* what) const {
  if (distributed::size() == 1) return;
  const auto all = distributed::allgather({double(rows)});
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r][0] != all[0][0])
      throw ValueError(std::string(what) + ": rank " + std::to_string(r) + " has " + std::to_string(int64_t(all[r][0])) +
                       " rows but rank 0 has " + std::to_string(int64_t(all[0][0])) +
                       "; every rank must load the same data (each trains on its part of every batch)");
}

bool Model::light_model() const {
  int64_t values = 0;
  for (const auto& s : input_shapes_) values += shape_size(s);
  return forward_flops_per_sample() < kLightModelFlopsPerInput * values;
}


}  // namespace myelin
