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

// x's and y's values must be finite: one NaN would turn the loss, then every weight, into NaN.
void check_finite(const Tensor& t, const char* name, const char* role, const std::string& what) {
  const int64_t i = kernels::first_non_finite(t.data(), t.size());
  if (i >= 0)
    throw ValueError(what + ": " + name + " holds " + std::to_string(t[i]) + " at row " + std::to_string(i / t.row_size()) +
                     " (column " + std::to_string(i % t.row_size()) + "); " + role + " must be finite");
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
}  // namespace


void Model::check_compiled(const char* what) const {
  if (!optimizer_ || !loss_)
    throw Error(std::string(what) + ": the model must be compiled first (model.compile(optimizer, loss, metrics))");
}

void Model::ensure_built(const Tensor& x, const char* what) {
  if (x.ndim() < 2 || x.rows() == 0)
    throw ShapeError(std::string(what) + ": x must have a batch dimension and at least one row, got shape " +
                     shape_to_string(x.shape()));
  if (!built_) build_for_data(Shape(x.shape().begin() + 1, x.shape().end()));  // no Shape once built: steps allocate nothing
}

void Model::build_for_data(const Shape& sample_shape) {
  // A declared input shape wins; otherwise the data's rows say what the model takes.
  if (!built_) build(layers_.empty() || layers_[0]->declared_input_shape() ? std::nullopt
                                                                          : std::optional<Shape>(sample_shape));
}

void Model::check_input_shape(const Tensor& x, const char* what) const {
  if (!std::equal(x.shape().begin() + 1, x.shape().end(), input_shape_.begin(), input_shape_.end()))
    throw ShapeError(std::string(what) + ": x has shape " + shape_to_string(x.shape()) + " but the model expects " +
                     shape_to_string(with_batch(-1, input_shape_), true));
}

void Model::check_inputs(const Tensor& x, const char* what) const {
  check_input_shape(x, what);
  check_finite(x, "x", "inputs", what);
}

void Model::check_data(const Tensor& x, const Tensor& y, const char* what) {
  ensure_built(x, what);
  check_inputs(x, what);
  if (y.rows() != x.rows())
    throw ShapeError(std::string(what) + ": x has " + std::to_string(x.rows()) + " rows but y has " +
                     std::to_string(y.rows()));
  check_finite(y, "y", "targets", what);
  loss_->check_targets(y, output_shape());
}

void Model::resolve_metrics(int64_t target_width) {
  if (metrics_resolved_) return;
  metrics_.clear();
  for (const auto& m : metric_args_) {
    if (m.get()) metrics_.push_back(m.get());
    else if (m.name() == "accuracy" || m.name() == "acc")
      metrics_.push_back(metrics::resolve_accuracy(m.name(), target_width, last_width(output_shape())));
    else metrics_.push_back(metrics::get(m.name()));
  }
  metrics_resolved_ = true;
}

const Tensor& Model::forward(const Tensor& x, bool training) {
  step_inputs_.assign(1, &x);
  return graph_->forward(step_inputs_, training);
}

const Tensor& Model::head_output(const Tensor& out) {
  if (!head_activation_) return out;
  probs_.resize(out.shape());
  kernels::bias_activation_forward(*head_activation_, out.data(), nullptr, nullptr, probs_.data(),
                                   out.size() / last_width(out.shape()), last_width(out.shape()));
  return probs_;
}

double Model::regularization_penalty() {
  if (!has_regularizers_) return 0.0;
  double total = 0;
  for (const auto& p : params_)
    if (p.regularizer && p.regularizer->active()) total += p.regularizer->penalty(*p.value);
  return total;
}

double Model::train_step(const Tensor& x, const Tensor& y, int64_t global_rows) {
  const int64_t rows = x.rows();
  const bool distributed = distributed::size() > 1;
  double loss = 0;
  distributed::OverlappedAllreduce reduce;
  if (rows > 0) {
    const Tensor& out = forward(x, true);
    loss = step_loss_->compute(y, out, &loss_grad_);
    // The loss is a mean over this rank's rows; weighting it by their share of the step makes the
    // sum over ranks the mean over the whole step, as one process would compute it.
    if (global_rows != rows) {
      const float share = float(double(rows) / double(global_rows));
      float* g = loss_grad_.data();
      for (int64_t i = 0; i < loss_grad_.size(); ++i) g[i] *= share;
    }
    // Each node's gradients are final once its backward is done: sum them over the ranks while the
    // layers below go on.
    step_output_grads_.assign(1, &loss_grad_);
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
    const Tensor& pred = head_output(out);
    for (auto& m : metrics_) m->update(y, pred);
  } else {
    // A short last step can leave a rank without rows: it adds zeros to the sum.
    for (const auto& p : params_) p.grad->fill(0.0f);
    for (auto& grads : node_grads_)
      for (Tensor* grad : grads) reduce.start(grad->data(), grad->size());
  }
  if (distributed) {
    reduce.wait();
    double weighted = loss * double(rows);
    distributed::allreduce_sum(&weighted, 1);
    loss = weighted / double(global_rows);
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
  check_compiled("train_on_batch");
  check_data(x, y, "train_on_batch");
  resolve_metrics(target_width(y));
  for (auto& m : metrics_) m->reset();
  update_trainable();
  return train_step(x, y, x.rows());
}

Logs Model::metric_results() const {
  Logs logs;
  for (const auto& m : metrics_) logs.set(m->name(), m->result());
  return logs;
}

void Model::reduce_metrics(int64_t rows) {
  if (distributed::size() == 1) return;
  for (auto& m : metrics_) {
    const auto states = distributed::allgather(m->state());
    if (!states[distributed::rank()].empty()) {
      // Built-in metrics: the sum of every rank's counts.
      m->reset();
      for (const auto& st : states) m->merge_state(st);
      continue;
    }
    // A metric without a state: each rank's result weighted by its rows. Its value is then held
    // by a Logs entry only (see metric_results_override_).
    const auto results = distributed::allgather({m->result() * double(rows), double(rows)});
    double sum = 0, total = 0;
    for (const auto& r : results) sum += r[0], total += r[1];
    metric_overrides_[m->name()] = total > 0 ? sum / total : 0.0;
  }
}

Logs Model::reduced_metric_results(int64_t rows) {
  metric_overrides_.clear();
  reduce_metrics(rows);
  Logs logs = metric_results();
  for (const auto& [k, v] : metric_overrides_) logs.set(k, v);
  return logs;
}

void Model::check_fit_options(const FitOptions& o) const {
  check_compiled("fit");
  if (o.epochs < 0) throw ValueError("fit: epochs must be >= 0, got " + std::to_string(o.epochs));
  if (o.batch_size <= 0) throw ValueError("fit: batch_size must be positive, got " + std::to_string(o.batch_size));
  if (!(o.validation_split >= 0.0 && o.validation_split < 1.0))
    throw ValueError("fit: validation_split must be in [0, 1), got " + std::to_string(o.validation_split));
}

History Model::fit(const Tensor& x_all, const Tensor& y_all, const FitOptions& o) {
  return run_on_every_rank("fit", [&] {
    check_fit_options(o);
    check_data(x_all, y_all, "fit");
    resolve_metrics(target_width(y_all));
    check_same_rows_on_every_rank(x_all.rows(), "fit");

    // Keras holds out the last rows, before any shuffling.
    Tensor x = x_all, y = y_all;
    std::optional<ValidationData> val = o.validation_data;
    if (o.validation_split > 0) {
      const int64_t split_at = int64_t(double(x_all.rows()) * (1.0 - o.validation_split));
      if (split_at <= 0 || split_at >= x_all.rows())
        throw ValueError("fit: validation_split " + std::to_string(o.validation_split) + " of " +
                         std::to_string(x_all.rows()) + " rows leaves no training or no validation data");
      x = x_all.rows(0, split_at);
      y = y_all.rows(0, split_at);
      val = ValidationData{x_all.rows(split_at, x_all.rows()), y_all.rows(split_at, y_all.rows())};
    }
    if (val) check_data(val->x, val->y, "fit (validation_data)");

    const int64_t bs = std::min<int64_t>(o.batch_size, x.rows());
    check_batch_fits(*memory_, optimizer_.get(), bs, /*training=*/true, "fit");
    // A light model (little arithmetic per input value, as an MLP) spends much of its step copying
    // scattered rows out of memory: one thread then gathers the next batch in the background while
    // the others compute (MLP epoch 0.053 s -> 0.043 s on two cores). A heavy model keeps every thread
    // for arithmetic, and a small batch is not worth a hand-over between threads (~50 us). The choice
    // depends on the model, the batch and the thread count only, never on timing, so results stay
    // reproducible for a given thread count.
    const bool background = num_threads() > 1 && bs * x.row_size() >= kMinPrefetchValues && light_model();
    ThreadCountGuard compute_threads(background ? num_threads() - 1 : num_threads());
    auto stream = make_tensor_stream(x, y, bs, background);
    return fit_loop(*stream, o, [&](Logs& logs) {
      if (!val) return;
      const Logs v = evaluate_locked(val->x, val->y, {.batch_size = o.batch_size, .verbose = 0});
      for (const auto& [k, value] : v) logs.set("val_" + k, value);
    });
  });
}

History Model::fit(data::Dataset& data, const FitOptions& o) {
  return run_on_every_rank("fit", [&] {
    check_fit_options(o);
    if (o.validation_split > 0)
      throw ValueError("fit: validation_split needs arrays (it holds out their last rows); with a Dataset, "
                       "pass validation_data or validation_dataset");
    check_dataset(data, "fit");
    check_batch_fits(*memory_, optimizer_.get(), dataset_batch_rows(o.batch_size, data),
                     /*training=*/true, "fit");
    resolve_metrics(last_width(data.y_shape()));
    if (o.validation_data) check_data(o.validation_data->x, o.validation_data->y, "fit (validation_data)");
    if (o.validation_dataset) check_dataset(*o.validation_dataset, "fit (validation_dataset)");
    // Reading a file waits on the disk and parses text: always on a thread of its own. The compute
    // threads are shared with it as for arrays: a light model gives one up.
    const bool light = num_threads() > 1 && light_model();
    ThreadCountGuard compute_threads(light ? num_threads() - 1 : num_threads());
    auto stream = make_dataset_stream(data, o.batch_size, /*background=*/true);
    return fit_loop(*stream, o, [&](Logs& logs) {
      Logs v;
      if (o.validation_data)
        v = evaluate_locked(o.validation_data->x, o.validation_data->y, {.batch_size = o.batch_size, .verbose = 0});
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
    for (auto& m : metrics_) m->reset();
    ProgressBar bar(batches.steps(), verbose);
    double loss_sum = 0;
    int64_t seen = 0, local_rows = 0, step = 0;
    for (;; ++step) {
      if (stop_training) break;
      const StepBatch b = batches.next();
      if (!b.x) break;
      if (!batches.prechecked()) check_batch(*b.x, *b.y, epoch, step);
      if (!cbs.empty())
        for (auto& c : cbs) c->on_train_batch_begin(int(step), batch_logs);
      const double batch_loss = train_step(*b.x, *b.y, b.global_rows);
      if (!std::isfinite(batch_loss)) {
        // Named here, whatever callbacks there are: training on NaN weights would only waste time.
        if (primary)
          std::fprintf(stderr, "fit: the loss is %s at epoch %d, batch %lld; training stopped (the weights are "
                       "those before this batch)\n", std::isnan(batch_loss) ? "nan" : "inf", epoch + 1,
                       (long long)step + 1);
        stop_training = true;
      }
      loss_sum += batch_loss * double(b.global_rows);
      seen += b.global_rows;
      local_rows += b.x->rows();
      if (!cbs.empty() || verbose == 1) {
        batch_logs.set("loss", loss_sum / double(seen));
        for (const auto& m : metrics_) batch_logs.set(m->name(), m->result());
        // A NaN batch loss must reach TerminateOnNaN even when the running mean hides its batch.
        if (!std::isfinite(batch_loss)) batch_logs.set("loss", batch_loss);
        for (auto& c : cbs) c->on_train_batch_end(int(step), batch_logs);
        bar.update(step + 1, batch_logs);
      }
    }
    logs = reduced_metric_results(local_rows);
    logs.set("loss", seen ? loss_sum / double(seen) : 0.0);
    validate(logs);
    bar.finish(logs, step);
    history.append(epoch, logs);
    for (auto& c : cbs) c->on_epoch_end(epoch, logs);
  }
  for (auto& c : cbs) c->on_train_end(logs);
  return history;
}

Logs Model::evaluate(const Tensor& x, const Tensor& y, const EvaluateOptions& options) {
  return run_on_every_rank("evaluate", [&] {
    std::lock_guard<std::mutex> lock(*inference_mutex_);
    return evaluate_locked(x, y, options);
  });
}

Logs Model::evaluate(data::Dataset& data, const EvaluateOptions& options) {
  return run_on_every_rank("evaluate", [&] {
    std::lock_guard<std::mutex> lock(*inference_mutex_);
    return evaluate_dataset_locked(data, options);
  });
}

void Model::evaluate_batch(const Tensor& x, const Tensor& y, double& loss_sum) {
  if (x.rows() == 0) return;
  const Tensor& out = forward(x, false);
  loss_sum += step_loss_->compute(y, out, nullptr) * double(x.rows());
  const Tensor& pred = head_output(out);
  for (auto& m : metrics_) m->update(y, pred);
}

Logs Model::finish_evaluation(double loss_sum, int64_t local_rows, ProgressBar& bar, int64_t steps) {
  double sums[2] = {loss_sum, double(local_rows)};
  distributed::allreduce_sum(sums, 2);
  Logs logs = reduced_metric_results(local_rows);
  logs.set("loss", (sums[1] > 0 ? sums[0] / sums[1] : 0.0) + regularization_penalty());
  bar.finish(logs, steps);
  return logs;
}

Logs Model::evaluate_locked(const Tensor& x, const Tensor& y, const EvaluateOptions& o) {
  check_compiled("evaluate");
  if (o.batch_size <= 0) throw ValueError("evaluate: batch_size must be positive");
  check_data(x, y, "evaluate");
  check_batch_fits(*memory_, optimizer_.get(), std::min<int64_t>(o.batch_size, x.rows()),
                   /*training=*/false, "evaluate");
  resolve_metrics(target_width(y));
  check_same_rows_on_every_rank(x.rows(), "evaluate");
  for (auto& m : metrics_) m->reset();
  // With several ranks each evaluates its own contiguous share of the rows.
  const int64_t n = x.rows(), ranks = distributed::size(), rank = distributed::rank();
  const int64_t lo = n * rank / ranks, hi = n * (rank + 1) / ranks;
  const int64_t steps = (hi - lo + o.batch_size - 1) / o.batch_size;
  ProgressBar bar(steps, distributed::is_primary() ? o.verbose : 0);
  double loss_sum = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t b0 = lo + s * o.batch_size, b1 = std::min<int64_t>(hi, b0 + o.batch_size);
    evaluate_batch(x.rows(b0, b1), y.rows(b0, b1), loss_sum);
  }
  return finish_evaluation(loss_sum, hi - lo, bar, steps);
}

Logs Model::evaluate_dataset_locked(data::Dataset& data, const EvaluateOptions& o) {
  check_compiled("evaluate");
  if (o.batch_size <= 0) throw ValueError("evaluate: batch_size must be positive");
  check_dataset(data, "evaluate");
  check_batch_fits(*memory_, optimizer_.get(), dataset_batch_rows(o.batch_size, data),
                   /*training=*/false, "evaluate");
  resolve_metrics(last_width(data.y_shape()));
  for (auto& m : metrics_) m->reset();
  auto stream = make_dataset_stream(data, o.batch_size, /*background=*/true);
  Rng unused(0);
  stream->start_epoch(unused, /*shuffle=*/false);
  ProgressBar bar(stream->steps(), distributed::is_primary() ? o.verbose : 0);
  double loss_sum = 0;
  int64_t rows = 0, step = 0;
  for (StepBatch b = stream->next(); b.x; b = stream->next(), ++step) {
    check_batch(*b.x, *b.y, -1, step);
    evaluate_batch(*b.x, *b.y, loss_sum);
    rows += b.x->rows();
  }
  return finish_evaluation(loss_sum, rows, bar, step);
}

Tensor Model::predict(const Tensor& x, int batch_size) {
  if (batch_size <= 0) throw ValueError("predict: batch_size must be positive");
  std::lock_guard<std::mutex> lock(*inference_mutex_);
  ensure_built(x, "predict");
  // Shape only: scanning for NaN here would read the input twice and cost predict ~40% at batch
  // 1024; a NaN input gives NaN outputs for its row, as in Keras and PyTorch.
  check_input_shape(x, "predict");
  check_batch_fits(*memory_, optimizer_.get(), std::min<int64_t>(batch_size, x.rows()),
                   /*training=*/false, "predict");
  const int64_t n = x.rows();
  Tensor result(with_batch(n, output_shape()));
  const int64_t width = result.row_size();
  for (int64_t b0 = 0; b0 < n; b0 += batch_size) {
    const int64_t b1 = std::min<int64_t>(n, b0 + batch_size);
    const Tensor& pred = head_output(forward(x.rows(b0, b1), false));
    std::copy(pred.data(), pred.data() + (b1 - b0) * width, result.data() + b0 * width);
  }
  return result;
}

Tensor Model::predict(data::Dataset& data, int batch_size) {
  if (batch_size <= 0) throw ValueError("predict: batch_size must be positive");
  std::lock_guard<std::mutex> lock(*inference_mutex_);
  check_dataset(data, "predict");
  check_batch_fits(*memory_, optimizer_.get(), dataset_batch_rows(batch_size, data),
                   /*training=*/false, "predict");
  // Every rank predicts every row: predictions are this process's to keep.
  DatasetPrefetcher reader(data, batch_size, /*background=*/true);
  reader.start_epoch(0, /*shuffle=*/false);
  std::vector<float> values;
  int64_t rows = 0;
  for (auto [xb, yb] = reader.next(); xb; std::tie(xb, yb) = reader.next()) {
    check_input_shape(*xb, "predict");
    const Tensor& pred = head_output(forward(*xb, false));
    values.insert(values.end(), pred.data(), pred.data() + pred.size());
    rows += xb->rows();
  }
  Tensor result(with_batch(rows, output_shape()));
  std::copy(values.begin(), values.end(), result.data());
  return result;
}

void Model::check_dataset(const data::Dataset& data, const char* what) {
  build_for_data(data.x_shape());
  const Shape xs = data.x_shape();
  if (xs != input_shape_)
    throw ShapeError(std::string(what) + ": the dataset's rows have shape " + shape_to_string(with_batch(-1, xs), true) +
                     " but the model expects " + shape_to_string(with_batch(-1, input_shape_), true));
}

void Model::check_batch(const Tensor& x, const Tensor& y, int epoch, int64_t step) const {
  // Rows from a file are checked as they arrive, as fit(x, y) checks arrays up front.
  const std::string where = epoch >= 0 ? "fit: epoch " + std::to_string(epoch + 1) + ", batch " + std::to_string(step + 1)
                                       : "evaluate: batch " + std::to_string(step + 1);
  if (x.rows() == 0) return;
  try {
    check_inputs(x, where.c_str());
    if (y.rows() != x.rows())
      throw ShapeError(where + ": x has " + std::to_string(x.rows()) + " rows but y has " + std::to_string(y.rows()));
    check_finite(y, "y", "targets", where);
    loss_->check_targets(y, output_shape());
  } catch (const ShapeError& e) {
    throw ShapeError(std::string(e.what()).rfind(where, 0) == 0 ? e.what() : where + ": " + e.what());
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()).rfind(where, 0) == 0 ? e.what() : where + ": " + e.what());
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
  return forward_flops_per_sample() < kLightModelFlopsPerInput * shape_size(input_shape_);
}


}  // namespace myelin
