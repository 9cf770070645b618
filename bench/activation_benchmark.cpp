// Times the Dense layers' fused bias + activation pass (kernels::bias_activation_forward) and the
// activation's gradient (kernels::activation_backward) for every activation kind, on a batch of rows
// as a Dense layer gives it. Prints one line per kind, pass and thread count: the median
// nanoseconds a value over the calls.
//
//   activation_benchmark [--rows 1024] [--cols 128] [--repeats 300]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/activation.hpp"
#include "myelin/threading.hpp"
#include "timing.hpp"

int main(int argc, char** argv) {
  long rows = 1024, cols = 128, repeats = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const long v = std::atol(argv[i + 1]);
    if (a == "--rows" && v > 0)
      rows = v;
    else if (a == "--cols" && v > 0)
      cols = v;
    else if (a == "--repeats" && v > 0)
      repeats = v;
    else {
      std::fprintf(stderr, "unknown option or bad value: %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  std::vector<float> x(static_cast<size_t>(rows * cols)), bias(static_cast<size_t>(cols)), z(x.size()), y(x.size());
  std::vector<float> dy(x.size()), dz(x.size());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 2.f);
  for (float& v : x) v = normal(rng);
  for (float& v : bias) v = normal(rng) * 0.1f;
  for (float& v : dy) v = normal(rng);
  using myelin::ActivationKind;
  const std::pair<const char*, ActivationKind> kinds[] = {
      {"relu", ActivationKind::ReLU},       {"sigmoid", ActivationKind::Sigmoid}, {"tanh", ActivationKind::Tanh},
      {"swish", ActivationKind::Swish},     {"gelu", ActivationKind::GELU},       {"elu", ActivationKind::ELU},
      {"softplus", ActivationKind::Softplus}, {"softmax", ActivationKind::Softmax}};
  std::printf("rows=%ld cols=%ld repeats=%ld\n", rows, cols, repeats);
  for (const int threads : {1, 2}) {
    myelin::set_num_threads(threads);
    for (const auto& [name, kind] : kinds) {
      // The pre-activation is kept where backward needs it, as the Dense layer keeps it.
      float* keep = myelin::kernels::activation_needs_preactivation(kind) ? z.data() : nullptr;
      std::vector<double> forward_ns, backward_ns;
      for (long r = 0; r < repeats + 3; ++r) {
        auto t0 = bench::Clock::now();
        myelin::kernels::bias_activation_forward(kind, x.data(), bias.data(), keep, y.data(), rows, cols);
        const double forward_s = bench::seconds_since(t0);
        t0 = bench::Clock::now();
        myelin::kernels::activation_backward(kind, dy.data(), y.data(), keep, dz.data(), rows, cols);
        const double backward_s = bench::seconds_since(t0);
        if (r >= 3) {
          forward_ns.push_back(forward_s * 1e9 / double(rows * cols));
          backward_ns.push_back(backward_s * 1e9 / double(rows * cols));
        }
      }
      std::printf("activation=%s pass=forward threads=%d ns_per_value=%.3f\n", name, threads, bench::median(forward_ns));
      std::printf("activation=%s pass=backward threads=%d ns_per_value=%.3f\n", name, threads,
                  bench::median(backward_ns));
    }
  }
  return 0;
}
