// compile: the optimizer, and for each model output its loss, loss weight, fused head and metrics.
#include <algorithm>
#include <cmath>
#include <set>

#include "graph/graph.hpp"
#include "model_memory.hpp"
#include "myelin/error.hpp"
#include "myelin/model.hpp"

namespace myelin {

namespace {
int64_t last_width(const Shape& s) { return s.empty() ? 1 : s.back(); }

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A map's keys must name outputs: a typo would otherwise silently leave an output out.
template <class Map>
void check_keys(const Map& map, const std::vector<std::string>& outputs, const std::string& where) {
  for (const auto& [key, value] : map)
    if (std::find(outputs.begin(), outputs.end(), key) == outputs.end())
      throw ValueError(where + ": '" + key + "' names no output of the model (outputs: " + joined(outputs) + ")");
}

bool is_cross_entropy(const Loss& loss) {
  const std::string n = loss.name();
  return n == "sparse_categorical_crossentropy" || n == "categorical_crossentropy" || n == "binary_crossentropy";
}
}  // namespace

void Model::compile(OptimizerArg optimizer, LossesArg loss, std::vector<MetricArg> metrics) {
  compile(std::move(optimizer), std::move(loss), CompileOptions{.metrics = MetricsArg(std::move(metrics))});
}

void Model::compile(OptimizerArg optimizer, LossesArg loss, CompileOptions options) {
  auto opt = optimizer.get();
  if (!opt) throw ValueError("compile: an optimizer is required");
  if (!loss.is_list() && !loss.is_map() && !loss.one().get()) throw ValueError("compile: a loss is required");
  for (const auto& l : loss.list())
    if (!l.get()) throw ValueError("compile: a loss in the list is null");
  for (const auto& [k, l] : loss.map())
    if (!l.get()) throw ValueError("compile: the loss for '" + k + "' is null");
  for (double w : options.loss_weights.list())
    if (!std::isfinite(w)) throw ValueError("compile: loss_weights must be finite, got " + std::to_string(w));
  for (const auto& [k, w] : options.loss_weights.map())
    if (!std::isfinite(w)) throw ValueError("compile: loss_weights['" + k + "'] must be finite, got " + std::to_string(w));
  const auto saved_loss = loss_arg_;
  const auto saved_options = compile_options_;
  loss_arg_ = std::move(loss);
  compile_options_ = std::move(options);
  try {
    prepare_outputs();  // checks the lists and keys against the outputs once they are known
  } catch (...) {
    loss_arg_ = saved_loss;
    compile_options_ = saved_options;
    prepare_outputs();  // the previous settings, which were valid
    throw;
  }
  // The optimizer's state is allocated on the first step: counted now, with the weights.
  if (built_) check_weights_fit(*memory_, opt.get(), "compile");
  optimizer_ = opt;
  if (built_) update_trainable();
}

void Model::prepare_outputs() {
  outputs_.clear();
  metrics_.clear();
  metrics_resolved_ = false;
  const bool has_loss = loss_arg_.is_list() || loss_arg_.is_map() || loss_arg_.one().get();
  if (!built_ || !has_loss) return;
  const std::vector<std::string> names = output_names();
  const size_t n = names.size();
  const std::string where = "compile (" + kind() + ")";
  if (loss_arg_.is_list() && loss_arg_.list().size() != n)
    throw ValueError(where + ": " + std::to_string(loss_arg_.list().size()) + " losses for " + std::to_string(n) +
                     " outputs (" + joined(names) + ")");
  check_keys(loss_arg_.map(), names, where + ", loss");
  const auto& lw = compile_options_.loss_weights;
  if (!lw.list().empty() && lw.list().size() != n)
    throw ValueError(where + ": " + std::to_string(lw.list().size()) + " loss_weights for " + std::to_string(n) +
                     " outputs (" + joined(names) + ")");
  check_keys(lw.map(), names, where + ", loss_weights");
  check_keys(compile_options_.metrics.map(), names, where + ", metrics");
  check_keys(compile_options_.weighted_metrics.map(), names, where + ", weighted_metrics");

  // An output read by another layer too must keep its activation: only a pure head is fused.
  std::multiset<int> output_nodes(graph_->outputs().begin(), graph_->outputs().end());
  std::vector<Output> outs(n);
  for (size_t k = 0; k < n; ++k) {
    Output& o = outs[k];
    o.name = names[k];
    o.node = graph_->outputs()[k];
    o.loss_key = o.name + "_loss";
    if (loss_arg_.is_list()) o.loss = loss_arg_.list()[k].get();
    else if (loss_arg_.is_map()) {
      auto it = loss_arg_.map().find(o.name);
      if (it == loss_arg_.map().end())
        throw ValueError(where + ": no loss for output '" + o.name + "' (every output needs one)");
      o.loss = it->second.get();
    } else {
      // One loss object for every output: it holds no state, so sharing it is safe.
      o.loss = loss_arg_.one().get();
    }
    if (!lw.list().empty()) o.loss_weight = lw.list()[k];
    else if (auto it = lw.map().find(o.name); it != lw.map().end()) o.loss_weight = it->second;

    // Softmax + cross-entropy and sigmoid + binary cross-entropy run fused from the logits
    // (log-sum-exp): the output layer emits logits and the model applies the activation for predictions.
    o.step_loss = o.loss;
    const graph::Node& node = graph_->nodes()[size_t(o.node)];
    if (!node.layer || node.is_input) continue;
    Layer& last = *node.layer;
    const auto act = last.output_activation();
    const auto fusable = o.loss->fusable_activation();
    const bool alone = node.consumers.empty() && output_nodes.count(o.node) == 1;
    // The graph hands the decision to the layer at each forward (a layer may be in two models).
    if (alone && act && fusable && *act == *fusable) {
      graph_->set_output_logits(k, true);
      o.head_activation = act;
      o.step_loss = o.loss->from_logits_version();
    } else {
      graph_->set_output_logits(k, false);
    }
  }
  outputs_ = std::move(outs);
  output_losses_.assign(n, 0.0);
  loss_sums_.assign(n + 1, 0.0);
}

void Model::resolve_metrics(const std::vector<int64_t>& target_widths) {
  if (metrics_resolved_) return;
  metrics_.clear();
  const size_t n = outputs_.size();
  std::set<const Metric*> objects;  // a metric object counts for one output only
  auto add = [&](size_t k, const MetricArg& m, bool weighted) {
    std::shared_ptr<Metric> metric;
    if (m.get()) {
      if (!objects.insert(m.get().get()).second)
        throw ValueError("compile: the metric object '" + m.get()->name() +
                         "' is given for more than one output; give it by name, or one object per output");
      metric = m.get();
    } else if (m.name() == "accuracy" || m.name() == "acc") {
      const Shape out_shape = graph_->nodes()[size_t(outputs_[k].node)].shape;
      metric = metrics::resolve_accuracy(m.name(), target_widths[k], last_width(out_shape));
    } else {
      metric = metrics::get(m.name());
    }
    std::string key = metric->name();
    auto taken = [&](const std::string& name) {
      return std::any_of(metrics_.begin(), metrics_.end(),
                         [&](const TrackedMetric& t) { return t.output == k && t.metric->name() == name; });
    };
    if (weighted && taken(key)) key = "weighted_" + key;
    if (n > 1) key = outputs_[k].name + "_" + key;
    metrics_.push_back({metric, key, k, weighted});
  };
  for (int weighted = 0; weighted < 2; ++weighted) {
    const MetricsArg& spec = weighted ? compile_options_.weighted_metrics : compile_options_.metrics;
    for (size_t k = 0; k < n; ++k) {
      if (!spec.is_map()) {
        for (const auto& m : spec.list()) add(k, m, weighted);
      } else if (auto it = spec.map().find(outputs_[k].name); it != spec.map().end()) {
        for (const auto& m : it->second) add(k, m, weighted);
      }
    }
  }
  metrics_resolved_ = true;
}

void Model::reset_metrics() {
  for (auto& m : metrics_) m.metric->reset();
}

void Model::mark_class_weighted(bool on) {
  // Keras applies class_weight to a single output; with several, to those with a cross-entropy loss.
  bool any = false;
  for (auto& o : outputs_) {
    o.class_weighted = on && (outputs_.size() == 1 || is_cross_entropy(*o.loss));
    any = any || o.class_weighted;
  }
  if (on && !any)
    throw ValueError("fit: class_weight needs an output with a cross-entropy loss (class targets); none of " +
                     kind() + "'s outputs has one");
}

}  // namespace myelin
