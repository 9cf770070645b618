// Forecasting a real series: weekly atmospheric CO2 at Mauna Loa, March 1958 – December 2001
// (data/co2.csv, from Debian's python3-statsmodels; see data/README.md; --data PATH reads another
// copy). From the past 52 weeks, a Conv1D/GRU network forecasts the next 4 weeks.
//
// The 59 weeks without a measurement are filled by straight-line interpolation between the nearest
// measured weeks before and after them. The split is chronological: the first 80% of the weeks
// train, and the test windows are those whose forecast weeks all lie in the last 20% (1993–2001;
// their 52 input weeks may reach back into the training years, as a forecaster's would).
//
// The level rises from 316 to 371 ppm, beyond anything the training years show, so each window is
// taken relative to its last value: inputs (x_t - x_last) / s, targets (x_future - x_last) / s, with
// s the standard deviation of the training targets' offsets; the network adds its forecast change to
// the last value. Conv1D(16, 5, causal, relu) -> GRU(32) -> Dense(4), mean squared error, Adam.
//
// Figures (ppm, mean absolute error over the test windows and the 4 forecast weeks): test_mae,
// beside last_value_mae (every future week = the last week seen) and seasonal_naive_mae (each future
// week = the same week a year earlier). --precision bf16 trains and forecasts under Keras's
// mixed_bfloat16 policy (Conv1D, GRU and Dense multiply in bfloat16), --precision auto under it only
// where it runs faster than float32 on this CPU.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <myelin/myelin.hpp>

#include "example_args.hpp"

using namespace myelin;

constexpr int64_t kWindow = 52;
constexpr int64_t kHorizon = 4;

// The co2 column, NaN for an empty value; then the gaps filled by linear interpolation.
std::vector<double> read_co2(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot read " + path);
  std::string line;
  std::getline(in, line);  // date,co2
  std::vector<double> v;
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    if (comma == std::string::npos) throw IOError(path + ": a line without a comma: " + line);
    const std::string value = line.substr(comma + 1);
    v.push_back(value.empty() ? NAN : std::stod(value));
  }
  int64_t missing = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isnan(v[i])) continue;
    ++missing;
    size_t a = i, b = i;
    while (a > 0 && std::isnan(v[a])) --a;
    while (b + 1 < v.size() && std::isnan(v[b])) ++b;
    if (std::isnan(v[a])) v[i] = v[b];        // a gap at the start: the first measured week
    else if (std::isnan(v[b])) v[i] = v[a];   // at the end: the last one
    else v[i] = v[a] + (v[b] - v[a]) * double(i - a) / double(b - a);
  }
  std::printf("weeks=%zu\nfilled_weeks=%lld\n", v.size(), (long long)missing);
  return v;
}

int main(int argc, char** argv) {
  const auto args = example::parse_args(
      argc, argv, "A Conv1D/GRU forecaster of weekly Mauna Loa CO2, against last-value and seasonal baselines.",
      example::Args{.epochs = 40, .batch_size = 32, .verbose = 0, .uses_precision = true});
  set_num_threads(args.threads);
  if (args.precision == "bf16") mixed_precision::set_global_policy("mixed_bfloat16");
  if (args.precision == "auto") mixed_precision::set_global_policy("auto");
  std::printf("mixed_bfloat16=%d\n", int(mixed_precision::global_policy() == "mixed_bfloat16"));
  const auto co2 = read_co2(args.data.empty() ? datasets::data_dir() + "/co2.csv" : args.data);

  // Window i reads weeks i .. i+51 and forecasts weeks i+52 .. i+55.
  const auto weeks = int64_t(co2.size());
  const int64_t split = weeks * 8 / 10;  // first test week
  std::vector<int64_t> train_starts, test_starts;
  for (int64_t i = 0; i + kWindow + kHorizon <= weeks; ++i) {
    if (i + kWindow + kHorizon <= split) train_starts.push_back(i);
    else if (i + kWindow >= split) test_starts.push_back(i);
  }
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  for (int64_t i : train_starts)
    for (int64_t h = 0; h < kHorizon; ++h) {
      const double d = co2[i + kWindow + h] - co2[i + kWindow - 1];
      sum += d, sum_sq += d * d, ++count;
    }
  const double mean = sum / double(count);
  const double scale = std::sqrt(sum_sq / double(count) - mean * mean);

  auto windows = [&](const std::vector<int64_t>& starts) {
    const auto n = int64_t(starts.size());
    datasets::Split s{Tensor({n, kWindow, 1}), Tensor({n, kHorizon})};
    for (int64_t r = 0; r < n; ++r) {
      const int64_t i = starts[r];
      const double last = co2[i + kWindow - 1];
      for (int64_t t = 0; t < kWindow; ++t) s.x[r * kWindow + t] = float((co2[i + t] - last) / scale);
      for (int64_t h = 0; h < kHorizon; ++h) s.y[r * kHorizon + h] = float((co2[i + kWindow + h] - last) / scale);
    }
    return s;
  };
  const auto train = windows(train_starts), test = windows(test_starts);

  set_random_seed(args.seed);
  Sequential model({layers::Conv1D(16, 5, "relu", {.input_shape = Shape{kWindow, 1}, .padding = "causal"}),
                    layers::GRU(32), layers::Dense(kHorizon)});
  model.compile(optimizers::Adam(0.003), "mse");
  model.fit(train.x, train.y, {.epochs = args.epochs, .batch_size = args.batch_size, .verbose = args.verbose});
  const Tensor forecast = model.predict(test.x);

  double net = 0, last_value = 0, seasonal = 0;
  for (size_t r = 0; r < test_starts.size(); ++r) {
    const int64_t i = test_starts[r];
    const double last = co2[i + kWindow - 1];
    for (int64_t h = 0; h < kHorizon; ++h) {
      const int64_t t = i + kWindow + h;
      net += std::abs(last + double(forecast[int64_t(r) * kHorizon + h]) * scale - co2[t]);
      last_value += std::abs(last - co2[t]);
      seasonal += std::abs(co2[t - 52] - co2[t]);
    }
  }
  const double n = double(test_starts.size() * kHorizon);
  std::printf("train_windows=%zu\ntest_windows=%zu\n", train_starts.size(), test_starts.size());
  std::printf("test_mae=%.4f\nlast_value_mae=%.4f\nseasonal_naive_mae=%.4f\n", net / n, last_value / n, seasonal / n);
}
