// LSTM and GRU over whole sequences: myelin's fused kernel (kernels/cpu/recurrent.cpp) against
// oneDNN's RNN primitives (lstm_forward / lstm_backward, lbr_gru_forward / lbr_gru_backward; the
// linear-before-reset GRU is Keras 3's reset_after GRU), on the same data, side by side in one run.
//
//   build/bench/rnn_primitive_benchmark [--threads N] [--repeats R] [--steps T] [--features F] [--units U]
//                                       [--precision fp32|bf16]
//
// For each cell and batch (64, and 1 for latency) it times forward inference, forward for training
// (keeping what backward reads) and backward (dx, the weight and bias gradients, from a gradient of
// the whole output sequence), each as the median of R repeats in which the two implementations
// alternate. oneDNN's weights are reordered into the layouts its forward and backward primitives
// choose once, before the timed loop, as a layer would keep them; its weight gradients come back in
// Keras's layout ([F, G*U]), and are zeroed before each backward (oneDNN accumulates into them), which
// the timing includes. A training layer would also redo the reorders after every optimizer step: the
// last row adds their time. Before timing, both outputs and gradients are compared (max |difference|).
// --precision bf16 runs myelin's kernel as a layer under mixed_bfloat16 (its products in bfloat16)
// against oneDNN's float32 primitives; the comparison then shows bfloat16's rounding, and the
// float32 phase lines are left out.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aligned_floats.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/recurrent.hpp"
#include "myelin/threading.hpp"
#include "timing.hpp"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
namespace mk = myelin::kernels;

struct Shape {
  int64_t batch, steps, features, units;
};

bench::Floats random_vector(size_t n, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-scale, scale);
  bench::Floats v(n);
  for (float& x : v) x = d(rng);
  return v;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0.f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Keras's weights and data for one case.
struct Problem {
  bool gru;
  Shape s;
  int64_t G, N;
  bench::Floats x, kernel, recurrent, bias, dy;  // bias: LSTM [N]; GRU [2, N]
};

Problem make_problem(bool gru, Shape s, std::mt19937& rng) {
  Problem p{gru, s, gru ? 3 : 4, 0, {}, {}, {}, {}, {}};
  p.N = p.G * s.units;
  p.x = random_vector(size_t(s.batch * s.steps * s.features), 1.f, rng);
  p.kernel = random_vector(size_t(s.features * p.N), 0.1f, rng);
  p.recurrent = random_vector(size_t(s.units * p.N), 0.1f, rng);
  p.bias = random_vector(size_t((gru ? 2 : 1) * p.N), 0.1f, rng);
  p.dy = random_vector(size_t(s.batch * s.steps * s.units), 1.f, rng);
  return p;
}

bool g_bf16 = false;  // --precision bf16

// myelin's kernel as the layer calls it for return_sequences=True.
struct Myelin {
  const Problem& p;
  mk::RecurrentGeometry g;
  mk::RecurrentWorkspace ws;
  bench::Floats y, dx, dkernel, drecurrent, dbias;

  explicit Myelin(const Problem& pr) : p(pr) {
    g.cell = p.gru ? mk::RecurrentCell::GRU : mk::RecurrentCell::LSTM;
    g.batch = p.s.batch;
    g.steps = p.s.steps;
    g.features = p.s.features;
    g.units = p.s.units;
    g.return_sequences = true;
    g.bf16 = g_bf16;
    y.resize(size_t(p.s.batch * p.s.steps * p.s.units));
    dx.resize(p.x.size());
    dkernel.resize(p.kernel.size());
    drecurrent.resize(p.recurrent.size());
    dbias.resize(p.bias.size());
  }
  void forward(bool keep) {
    mk::recurrent_forward(g, p.x.data(), p.kernel.data(), p.recurrent.data(), p.bias.data(), nullptr, nullptr,
                          nullptr, y.data(), keep, ws);
  }
  void backward() {
    mk::recurrent_backward(g, p.x.data(), p.kernel.data(), p.recurrent.data(), nullptr, p.dy.data(), nullptr,
                           nullptr, ws, dx.data(), dkernel.data(), drecurrent.data(), dbias.data(), nullptr, nullptr);
  }
};

// oneDNN's primitives on the same problem: x and y in myelin's [B, T, C] (oneDNN's ntc), weights
// reordered once from Keras's [F, G*U] (oneDNN's ldigo).
struct OneDnn {
  const Problem& p;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::primitive fwd_infer, fwd_train, bwd;
  memory x_m, y_m, bias_m, ws_m, dy_m, dx_m, dwl_m, dwi_m, dbias_m;
  memory wl_infer, wi_infer, wl_train, wi_train, wl_bwd, wi_bwd;
  memory wl_src, wi_src;  // Keras's layout, over the problem's weights
  bench::Floats bias;  // oneDNN's bias: LSTM [4, U]; GRU [4, U]: z, r, h (input), h (recurrent)
  bench::Floats y, dx, dkernel, drecurrent, dbias;

  static memory::desc zero() { return memory::desc(); }

  explicit OneDnn(const Problem& pr) : p(pr) {
    const auto T = p.s.steps, B = p.s.batch, F = p.s.features, U = p.s.units, G = p.G;
    const int64_t BG = p.gru ? 4 : 4;  // bias gates: LSTM 4; linear-before-reset GRU 3 + 1
    if (p.gru) {
      bias.assign(size_t(4 * U), 0.f);
      for (int64_t j = 0; j < 2 * U; ++j) bias[j] = p.bias[j] + p.bias[p.N + j];  // z, r: both biases
      for (int64_t j = 0; j < U; ++j) {
        bias[2 * U + j] = p.bias[2 * U + j];        // h: input bias
        bias[3 * U + j] = p.bias[p.N + 2 * U + j];  // h: recurrent bias, inside r * (...)
      }
    } else {
      bias = p.bias;
    }
    y.resize(size_t(B * T * U));
    dx.resize(p.x.size());
    dkernel.resize(p.kernel.size());
    drecurrent.resize(p.recurrent.size());
    dbias.resize(size_t(BG * U));

    const memory::desc x_d({T, B, F}, dt::f32, tag::ntc), y_d({T, B, U}, dt::f32, tag::ntc);
    const memory::desc wl_user({1, 1, F, G, U}, dt::f32, tag::ldigo), wi_user({1, 1, U, G, U}, dt::f32, tag::ldigo);
    const memory::desc wl_any({1, 1, F, G, U}, dt::f32, tag::any), wi_any({1, 1, U, G, U}, dt::f32, tag::any);
    const memory::desc b_d({1, 1, BG, U}, dt::f32, tag::ldgo);
    const auto dir = dnnl::rnn_direction::unidirectional_left2right;
    x_m = memory(x_d, eng, const_cast<float*>(p.x.data()));
    y_m = memory(y_d, eng, y.data());
    bias_m = memory(b_d, eng, bias.data());
    dy_m = memory(y_d, eng, const_cast<float*>(p.dy.data()));
    dx_m = memory(x_d, eng, dx.data());
    dwl_m = memory(wl_user, eng, dkernel.data());
    dwi_m = memory(wi_user, eng, drecurrent.data());
    dbias_m = memory(b_d, eng, dbias.data());
    wl_src = memory(wl_user, eng, const_cast<float*>(p.kernel.data()));
    wi_src = memory(wi_user, eng, const_cast<float*>(p.recurrent.data()));
    auto prepared = [&](const memory::desc& want, memory& src) {
      memory m(want, eng);
      dnnl::reorder(src, m).execute(strm, src, m);
      strm.wait();
      return m;
    };

    if (!p.gru) {
      using F_ = dnnl::lstm_forward;
      using B_ = dnnl::lstm_backward;
      F_::primitive_desc inf({dnnl::prop_kind::forward_inference, dir, x_d, zero(), zero(), wl_any, wi_any, b_d,
                              y_d, zero(), zero()},
                             eng);
      F_::primitive_desc tr({dnnl::prop_kind::forward_training, dir, x_d, zero(), zero(), wl_any, wi_any, b_d, y_d,
                             zero(), zero()},
                            eng);
      B_::primitive_desc bw({dnnl::prop_kind::backward, dir, x_d, zero(), zero(), wl_any, wi_any, b_d, y_d, zero(),
                             zero(), x_d, zero(), zero(), wl_user, wi_user, b_d, y_d, zero(), zero()},
                            eng, tr);
      fwd_infer = F_(inf);
      fwd_train = F_(tr);
      bwd = B_(bw);
      wl_infer = prepared(inf.weights_layer_desc(), wl_src);
      wi_infer = prepared(inf.weights_iter_desc(), wi_src);
      wl_train = prepared(tr.weights_layer_desc(), wl_src);
      wi_train = prepared(tr.weights_iter_desc(), wi_src);
      wl_bwd = prepared(bw.weights_layer_desc(), wl_src);
      wi_bwd = prepared(bw.weights_iter_desc(), wi_src);
      ws_m = memory(tr.workspace_desc(), eng);
    } else {
      using F_ = dnnl::lbr_gru_forward;
      using B_ = dnnl::lbr_gru_backward;
      F_::primitive_desc inf({dnnl::prop_kind::forward_inference, dir, x_d, zero(), wl_any, wi_any, b_d, y_d, zero()},
                             eng);
      F_::primitive_desc tr({dnnl::prop_kind::forward_training, dir, x_d, zero(), wl_any, wi_any, b_d, y_d, zero()},
                            eng);
      B_::primitive_desc bw({dnnl::prop_kind::backward, dir, x_d, zero(), wl_any, wi_any, b_d, y_d, zero(), x_d, zero(),
                             wl_user, wi_user, b_d, y_d, zero()},
                            eng, tr);
      fwd_infer = F_(inf);
      fwd_train = F_(tr);
      bwd = B_(bw);
      wl_infer = prepared(inf.weights_layer_desc(), wl_src);
      wi_infer = prepared(inf.weights_iter_desc(), wi_src);
      wl_train = prepared(tr.weights_layer_desc(), wl_src);
      wi_train = prepared(tr.weights_iter_desc(), wi_src);
      wl_bwd = prepared(bw.weights_layer_desc(), wl_src);
      wi_bwd = prepared(bw.weights_iter_desc(), wi_src);
      ws_m = memory(tr.workspace_desc(), eng);
    }
  }

  void forward(bool train) {
    if (train)
      fwd_train.execute(strm, {{DNNL_ARG_SRC_LAYER, x_m},
                               {DNNL_ARG_WEIGHTS_LAYER, wl_train},
                               {DNNL_ARG_WEIGHTS_ITER, wi_train},
                               {DNNL_ARG_BIAS, bias_m},
                               {DNNL_ARG_DST_LAYER, y_m},
                               {DNNL_ARG_WORKSPACE, ws_m}});
    else
      fwd_infer.execute(strm, {{DNNL_ARG_SRC_LAYER, x_m},
                               {DNNL_ARG_WEIGHTS_LAYER, wl_infer},
                               {DNNL_ARG_WEIGHTS_ITER, wi_infer},
                               {DNNL_ARG_BIAS, bias_m},
                               {DNNL_ARG_DST_LAYER, y_m}});
    strm.wait();
  }
  // What training adds when the optimizer has changed the weights: the four reorders into the
  // forward-training and backward layouts.
  void reorder_weights() {
    for (auto [src, dst] : {std::pair{&wl_src, &wl_train}, {&wi_src, &wi_train}, {&wl_src, &wl_bwd}, {&wi_src, &wi_bwd}})
      dnnl::reorder(*src, *dst).execute(strm, *src, *dst);
    strm.wait();
  }
  void backward() {
    std::memset(dkernel.data(), 0, dkernel.size() * sizeof(float));
    std::memset(drecurrent.data(), 0, drecurrent.size() * sizeof(float));
    std::memset(dbias.data(), 0, dbias.size() * sizeof(float));
    bwd.execute(strm, {{DNNL_ARG_SRC_LAYER, x_m},
                       {DNNL_ARG_WEIGHTS_LAYER, wl_bwd},
                       {DNNL_ARG_WEIGHTS_ITER, wi_bwd},
                       {DNNL_ARG_BIAS, bias_m},
                       {DNNL_ARG_DST_LAYER, y_m},
                       {DNNL_ARG_WORKSPACE, ws_m},
                       {DNNL_ARG_DIFF_DST_LAYER, dy_m},
                       {DNNL_ARG_DIFF_SRC_LAYER, dx_m},
                       {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl_m},
                       {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi_m},
                       {DNNL_ARG_DIFF_BIAS, dbias_m}});
    strm.wait();
  }
};

template <class Fn>
double time_ms(Fn&& fn) {
  const auto t0 = bench::Clock::now();
  fn();
  return bench::seconds_since(t0) * 1e3;
}

// Where myelin's time goes: its GEMMs alone, with the same shapes and strides as in the kernel,
// beside the whole forward and backward in the same rounds; the rest is the element-wise work
// (gates, state updates, copies, bias sums).
void phases(Myelin& m, int repeats) {
  const Problem& p = m.p;
  const int64_t B = p.s.batch, T = p.s.steps, F = p.s.features, U = p.s.units, N = p.N;
  bench::Floats xw(size_t(B * T * N)), hr(size_t(B * N)), dh(size_t(B * U));
  std::vector<double> fwd, in_gemm, rec_gemm, bwd, dh_gemm, w_gemm, dx_gemm;
  for (int r = 0; r < repeats + 2; ++r) {
    const double f = time_ms([&] { m.forward(false); });
    const double ig = time_ms([&] {
      mk::gemm(false, false, B * T, N, F, 1.f, p.x.data(), F, p.kernel.data(), N, 0.f, xw.data(), N);
    });
    const double rg = time_ms([&] {
      for (int64_t t = 1; t < T; ++t)
        mk::gemm(false, false, B, N, U, 1.f, m.y.data() + t * U, T * U, p.recurrent.data(), N, 0.f, hr.data(), N);
    });
    m.forward(true);
    const double b = time_ms([&] { m.backward(); });
    const double dg = time_ms([&] {
      for (int64_t t = 1; t < T; ++t)
        mk::gemm(false, true, B, U, N, 1.f, m.ws.dz.data() + t * N, T * N, p.recurrent.data(), N, 0.f, dh.data(), U);
    });
    const double wg = time_ms([&] {
      mk::gemm(true, false, F, N, B * T, 1.f, p.x.data(), F, m.ws.dz.data(), N, 0.f, m.dkernel.data(), N);
      mk::gemm(true, false, U, N, B * T, 1.f, m.ws.h_prev.data(), U, m.ws.dz.data(), N, 0.f, m.drecurrent.data(), N);
    });
    const double xg = time_ms([&] {
      mk::gemm(false, true, B * T, F, N, 1.f, m.ws.dz.data(), N, p.kernel.data(), N, 0.f, m.dx.data(), F);
    });
    if (r < 2) continue;  // warm-up
    fwd.push_back(f), in_gemm.push_back(ig), rec_gemm.push_back(rg);
    bwd.push_back(b), dh_gemm.push_back(dg), w_gemm.push_back(wg), dx_gemm.push_back(xg);
  }
  const double f = bench::median(fwd), ig = bench::median(in_gemm), rg = bench::median(rec_gemm);
  const double b = bench::median(bwd), dg = bench::median(dh_gemm), wg = bench::median(w_gemm),
               xg = bench::median(dx_gemm);
  std::printf("%s_b%lld_myelin_forward_phases_ms total=%.4g input_gemm=%.4g recurrent_gemms=%.4g rest=%.4g\n",
              p.gru ? "GRU" : "LSTM", (long long)B, f, ig, rg, f - ig - rg);
  std::printf(
      "%s_b%lld_myelin_backward_phases_ms total=%.4g recurrent_gemms=%.4g weight_gemms=%.4g dx_gemm=%.4g rest=%.4g\n",
      p.gru ? "GRU" : "LSTM", (long long)B, b, dg, wg, xg, b - dg - wg - xg);
  std::fflush(stdout);
}

void run_case(bool gru, Shape s, int repeats, std::mt19937& rng) {
  const Problem p = make_problem(gru, s, rng);
  Myelin m(p);
  OneDnn d(p);
  const char* cell = gru ? "GRU" : "LSTM";

  // The same computation: outputs, then gradients (myelin's GRU bias gradient is [2, N]; oneDNN's
  // [4, U], whose z and r rows are either of myelin's, and whose h rows are its two h parts).
  m.forward(true);
  d.forward(true);
  m.backward();
  d.backward();
  float db = 0.f;
  if (gru) {
    const int64_t U = s.units;
    for (int64_t j = 0; j < 2 * U; ++j) db = std::max(db, std::fabs(m.dbias[j] - d.dbias[j]));
    for (int64_t j = 0; j < U; ++j) {
      db = std::max(db, std::fabs(m.dbias[2 * U + j] - d.dbias[2 * U + j]));
      db = std::max(db, std::fabs(m.dbias[p.N + 2 * U + j] - d.dbias[3 * U + j]));
    }
  } else {
    db = max_abs_diff(m.dbias.data(), d.dbias.data(), m.dbias.size());
  }
  std::printf("%s_b%lld_check max|dy|=%.2g max|dx|=%.2g max|dkernel|=%.2g max|drecurrent|=%.2g max|dbias|=%.2g\n",
              cell, (long long)s.batch, max_abs_diff(m.y.data(), d.y.data(), m.y.size()),
              max_abs_diff(m.dx.data(), d.dx.data(), m.dx.size()),
              max_abs_diff(m.dkernel.data(), d.dkernel.data(), m.dkernel.size()),
              max_abs_diff(m.drecurrent.data(), d.drecurrent.data(), m.drecurrent.size()), db);

  // Warm-up, then R rounds in which the two alternate at every phase.
  for (int w = 0; w < 2; ++w) {
    m.forward(false), d.forward(false), m.forward(true), d.forward(true), m.backward(), d.backward();
  }
  std::vector<double> mi, di, mt, dt_, mb, db_, dr;
  for (int r = 0; r < repeats; ++r) {
    mi.push_back(time_ms([&] { m.forward(false); }));
    di.push_back(time_ms([&] { d.forward(false); }));
    mt.push_back(time_ms([&] { m.forward(true); }));
    dt_.push_back(time_ms([&] { d.forward(true); }));
    mb.push_back(time_ms([&] { m.backward(); }));
    db_.push_back(time_ms([&] { d.backward(); }));
    dr.push_back(time_ms([&] { d.reorder_weights(); }));
  }
  struct Row {
    const char* what;
    double myelin, onednn;
  } rows[] = {{"forward_inference", bench::median(mi), bench::median(di)},
              {"forward_training", bench::median(mt), bench::median(dt_)},
              {"backward", bench::median(mb), bench::median(db_)},
              {"train_step", bench::median(mt) + bench::median(mb), bench::median(dt_) + bench::median(db_)},
              {"train_step_with_weight_reorders", bench::median(mt) + bench::median(mb),
               bench::median(dt_) + bench::median(db_) + bench::median(dr)}};
  for (const Row& row : rows)
    std::printf("%s_b%lld_%s_ms myelin=%.4g onednn=%.4g onednn_speedup=%.2f\n", cell, (long long)s.batch, row.what,
                row.myelin, row.onednn, row.myelin / row.onednn);
  std::fflush(stdout);
  if (!g_bf16) phases(m, repeats);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 20;
  Shape s{64, 100, 128, 128};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const long v = std::atol(argv[i + 1]);
    if (a == "--threads") threads = int(v);
    else if (a == "--repeats") repeats = int(v);
    else if (a == "--steps") s.steps = v;
    else if (a == "--features") s.features = v;
    else if (a == "--units") s.units = v;
    else if (a == "--precision" && (std::string(argv[i + 1]) == "fp32" || std::string(argv[i + 1]) == "bf16"))
      g_bf16 = std::string(argv[i + 1]) == "bf16";
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  myelin::set_num_threads(threads);
  std::printf("threads=%d repeats=%d steps=%lld features=%lld units=%lld precision=%s\n", myelin::num_threads(),
              repeats, (long long)s.steps, (long long)s.features, (long long)s.units, g_bf16 ? "bf16" : "fp32");
  std::mt19937 rng(42);
  for (int64_t batch : {64, 1})
    for (bool gru : {false, true}) {
      Shape c = s;
      c.batch = batch;
      run_case(gru, c, repeats, rng);
    }
  return 0;
}
