#include "kernels/cpu/recurrent.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/activation.hpp"
#include "kernels/cpu/activation_lanes.hpp"
#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/block_product.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/lanes.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/spin_barrier.hpp"
#include "myelin/error.hpp"

#include <omp.h>

namespace myelin::kernels {

namespace {

// The activations the recurrent cells admit (recurrent_activation_supported) over vectors of
// lanes, as function objects so that each loop is compiled for the activation it runs (a switch
// per vector reloads the constants and branches in the loop).
struct TanhLanes {
  Floats operator()(Floats x) const { return tanh_lanes(x); }
};
struct SigmoidLanes {
  Floats operator()(Floats x) const { return sigmoid_gate_lanes(x); }
};
struct ReluLanes {
  Floats operator()(Floats x) const { return x < 0.f ? Floats{} : x; }
};
struct LinearLanes {
  Floats operator()(Floats x) const { return x; }
};

// Runs f(act) with the lane object of activation k (linear for any kind the cells do not admit).
template <class F>
void with_lanes(ActivationKind k, F&& f) {
  switch (k) {
    case ActivationKind::Tanh: return f(TanhLanes{});
    case ActivationKind::Sigmoid: return f(SigmoidLanes{});
    case ActivationKind::ReLU: return f(ReluLanes{});
    default: return f(LinearLanes{});
  }
}

// v = act(v) over n values.
void activate(ActivationKind k, float* v, int64_t n) {
  if (k != ActivationKind::Linear) with_lanes(k, [&](auto act) { map_lanes(v, v, n, act); });
}

// The derivative at the pre-activation, from the activation's output y.
inline float act_grad(ActivationKind k, float y) {
  switch (k) {
    case ActivationKind::Tanh: return 1.f - y * y;
    case ActivationKind::Sigmoid: return y * (1.f - y);
    case ActivationKind::ReLU: return y > 0.f ? 1.f : 0.f;
    default: return 1.f;
  }
}

// The derivatives as function objects, so that each backward row loop is compiled for the
// activations it runs: a switch per unit kept those loops scalar.
struct TanhGrad {
  float operator()(float y) const { return 1.f - y * y; }
};
struct SigmoidGrad {
  float operator()(float y) const { return y * (1.f - y); }
};
struct AnyGrad {
  ActivationKind k;
  float operator()(float y) const { return act_grad(k, y); }
};

// Runs f(ga, gra) with the derivative objects of the cell's activation and recurrent activation:
// Keras's defaults (tanh, sigmoid) specialised, any other pair through AnyGrad.
template <class F>
void with_grads(ActivationKind a, ActivationKind ra, F&& f) {
  if (a == ActivationKind::Tanh && ra == ActivationKind::Sigmoid)
    f(TanhGrad{}, SigmoidGrad{});
  else
    f(AnyGrad{a}, AnyGrad{ra});
}

// One row of LSTM backward at one step. dh holds d h_t from later steps plus this step's output
// gradient (added by the caller); dc is d c_t from later steps, left as d c_{t-1}. cp: c_{t-1}
// (with HasCp; else zero, and the forget gate's gradient is zero).
template <bool HasCp, class Ga, class Gra>
void lstm_backward_row(int64_t U, const float* __restrict gr, const float* __restrict cp,
                       const float* __restrict tcs, const float* __restrict dh, float* __restrict dc,
                       float* __restrict dz, Ga ga, Gra gra) {
  for (int64_t j = 0; j < U; ++j) {
    const float i = gr[j], f = gr[U + j], gg = gr[2 * U + j], o = gr[3 * U + j];
    const float dhj = dh[j];
    const float tc = tcs[j];
    const float dcj = dc[j] + dhj * o * ga(tc);
    dz[j] = dcj * gg * gra(i);
    if constexpr (HasCp)
      dz[U + j] = dcj * cp[j] * gra(f);
    else
      dz[U + j] = 0.f;
    dz[2 * U + j] = dcj * i * ga(gg);
    dz[3 * U + j] = dhj * tc * gra(o);
    dc[j] = dcj * f;
  }
}

// One row of GRU backward at one step; dh as for the LSTM, left as the direct path's d h_{t-1}.
template <class Ga, class Gra>
void gru_backward_row(int64_t U, const float* __restrict gr, const float* __restrict hp,
                      const float* __restrict inner, float* __restrict dh, float* __restrict dz,
                      float* __restrict dzh, Ga ga, Gra gra) {
  for (int64_t j = 0; j < U; ++j) {
    const float z = gr[j], r = gr[U + j], hh = gr[2 * U + j];
    const float dhj = dh[j];
    const float dpre_h = dhj * (1.f - z) * ga(hh);
    const float dpre_z = dhj * (hp[j] - hh) * gra(z);
    const float dpre_r = dpre_h * inner[j] * gra(r);
    dz[j] = dzh[j] = dpre_z;
    dz[U + j] = dzh[U + j] = dpre_r;
    dz[2 * U + j] = dpre_h;
    dzh[2 * U + j] = dpre_h * r;
    dh[j] = dhj * z;  // the direct path h_{t-1} -> h_t; the GEMM after the rows adds the gates' paths
  }
}

inline int64_t time_of(const RecurrentGeometry& g, int64_t step) { return g.go_backwards ? g.steps - 1 - step : step; }

// out[g * ldo + (0, V * kLanes)] = sum over k of h[k] * w[k * ldw + g * K + (0, V * kLanes)] for the
// G gates (each gate's block of w's columns is K wide, K the units): V vectors of units in every
// gate's columns of the recurrent product, their sums in registers while the rows stream by. Reading
// the G columns of a row together took a thread's half of an LSTM of 128 units 1.54 us, against
// 2.03 gate by gate (bench/README.md, "The recurrent layers at batch 1 on a team of threads").
template <int G, int V>
void gates_product(const float* h, int64_t K, const float* w, int64_t ldw, int64_t, float* out, int64_t ldo) {
  Floats acc[G][V] = {};
  for (int64_t k = 0; k < K; ++k) {
    const float hk = h[k];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[g][v] += hk * load(w + k * ldw + g * K + v * kLanes);
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) store(out + g * ldo + v * kLanes, acc[g][v]);
}

#if defined(__AVX512BF16__)
// The same sums with bfloat16 operands (mixed_bfloat16): h's K units as K / 2 pairs (pair_columns)
// and w's rows as pairs too (pair_rows: gate g's pair p, column j at w[g * gate_step + p * ldw + j]),
// vdpbf16ps adding each pair's two products into float32 sums. Half the bytes of w stream by.
template <int G, int V>
void gates_product(const uint32_t* h, int64_t K, const uint32_t* w, int64_t ldw, int64_t gate_step, float* out,
                   int64_t ldo) {
  __m512 acc[G][V];
  for (int g = 0; g < G; ++g)
    for (int v = 0; v < V; ++v) acc[g][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < K / 2; ++p) {
    const __m512bh hp = __m512bh(_mm512_set1_epi32(int(h[p])));
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v)
        acc[g][v] =
            _mm512_dpbf16_ps(acc[g][v], hp, __m512bh(_mm512_loadu_si512(w + g * gate_step + p * ldw + v * 16)));
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(out + g * ldo + v * 16, acc[g][v]);
}
#endif

// A step's recurrent product h [units] x w [units, gates * units] (rows ldw apart, each gate's
// block of `units` columns gate_step apart) for `vectors` vectors of units from w's first column on,
// in every gate's block; gate k's sums at out + k * ldo. In passes of at most 4 vectors (at most 16
// sums in registers). T is float, or uint32_t for bfloat16 pairs (h and w as gates_product's second
// form takes them).
template <class T>
void recurrent_product(int64_t gates, const T* h, int64_t units, const T* w, int64_t ldw, int64_t gate_step,
                       float* out, int64_t ldo, int64_t vectors) {
  using Pass = void (*)(const T*, int64_t, const T*, int64_t, int64_t, float*, int64_t);
  static constexpr Pass kPasses[3][4] = {
      {&gates_product<1, 1>, &gates_product<1, 2>, &gates_product<1, 3>, &gates_product<1, 4>},
      {&gates_product<3, 1>, &gates_product<3, 2>, &gates_product<3, 3>, &gates_product<3, 4>},
      {&gates_product<4, 1>, &gates_product<4, 2>, &gates_product<4, 3>, &gates_product<4, 4>}};
  const auto& passes = kPasses[gates == 1 ? 0 : gates == 3 ? 1 : 2];
  for (int64_t v = 0; v < vectors; v += 4) {
    const int64_t n = std::min<int64_t>(4, vectors - v);
    passes[n - 1](h, units, w + v * kLanes, ldw, gate_step, out + v * kLanes, ldo);
  }
}

// The recurrent kernel's columns [u0, u0 + w) of every gate as bfloat16 pairs of rows, for a team's
// thread under mixed_bfloat16: gate g's pair p at out[g * (units / 2) * w + p * w].
void pair_team_columns(int64_t gates, const float* recurrent_kernel, int64_t units, int64_t u0, int64_t w,
                       uint32_t* out) {
  for (int64_t g = 0; g < gates; ++g)
    pair_rows(recurrent_kernel + g * units + u0, gates * units, units, w, w, out + g * (units / 2) * w);
}

// recurrent_product of the state h in float32 by a thread's columns w in bfloat16 pairs
// (pair_team_columns), through h_pairs ([units / 2] words), where the state is rounded first.
void pairs_step_product(int64_t gates, const float* h, int64_t units, uint32_t* h_pairs, const uint32_t* w,
                        int64_t width, float* out) {
#if defined(__AVX512BF16__)
  pair_columns(h, units, 1, units, h_pairs);
  recurrent_product(gates, const_cast<const uint32_t*>(h_pairs), units, w, width, units / 2 * width, out, width,
                    width / kLanes);
#else
  (void)gates, (void)h, (void)units, (void)h_pairs, (void)w, (void)width, (void)out;
  throw Error("bfloat16 pair products need a build for a CPU with AVX512_BF16");
#endif
}

// Where one step of one row keeps what backward reads (see cell_step).
struct KeptStep {
  float* gates;
  float* cell;
};
// Where step `at / U` of row `at / (T * U)` keeps its values, from unit `at % U` on.
KeptStep kept_step(const RecurrentGeometry& g, RecurrentWorkspace& ws, int64_t at) {
  const int64_t G = recurrent_gates(g.cell);
  return {ws.gates.data() + at / g.units * G * g.units + at % g.units,
          g.cell == RecurrentCell::SimpleRNN ? nullptr : ws.cell.data() + at};
}

// The LSTM's step for n units (n = kLanes, or fewer in the last vector) of a row, at the units'
// first value in pre, xr, xbias (null for none), c and h_out; the kept values from unit j of kept's
// arrays. As cell_step describes.
template <class Act, class RecurrentAct>
inline void lstm_units(const float* pre, int64_t ps, const float* xr, int64_t xs, const float* xbias, float* c,
                       float* h_out, int64_t n, const KeptStep* kept, int64_t j, Act act, RecurrentAct recurrent_act) {
  auto in = [n](const float* p) { return n == kLanes ? load(p) : load_first(p, n, 0.f); };
  auto out = [n](float* p, Floats v) { n == kLanes ? store(p, v) : store_first(p, n, v); };
  Floats z[4];
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k)
    z[k] = in(pre + k * ps) + (xbias ? in(xr + k * xs) + in(xbias + k * xs) : in(xr + k * xs));
  const Floats i = recurrent_act(z[0]), f = recurrent_act(z[1]), g = act(z[2]), o = recurrent_act(z[3]);
  const Floats cell = f * in(c) + i * g;
  out(c, cell);
  out(h_out, o * act(cell));
  if (!kept) return;
  out(kept->cell + j, cell);
  out(kept->gates + j, i);
  out(kept->gates + xs + j, f);
  out(kept->gates + 2 * xs + j, g);
  out(kept->gates + 3 * xs + j, o);
}

// One step's element-wise part for w units of a row. pre holds the step's recurrent products, gate
// k at pre + k * ps (GRU's candidate is written after them, at pre + 3 * ps), and is scratch
// afterwards; xr the input projections, gate k at xr + k * xs, and xbias the input bias and rbias
// GRU's recurrent bias likewise (null for none). Reads h_prev (GRU), updates c (LSTM) and writes
// h_out, which may be h_prev: each unit's new state depends on its own old state only. With `kept`,
// stores what backward reads: the gate outputs at kept.gates + k * xs (SimpleRNN h; LSTM i f c o;
// GRU z r hh) and, at kept.cell, LSTM's c_t or GRU's recurrent term of the candidate. The LSTM's
// step is one pass over the units, a vector of lanes at a time; the other cells' are whole-array
// passes, each of which vectorises.
void cell_step(const RecurrentGeometry& g, float* pre, int64_t ps, const float* xr, int64_t xs, const float* xbias,
               const float* rbias, const float* h_prev, float* c, float* h_out, int64_t w, const KeptStep* kept) {
  const ActivationKind a = g.activation, ra = g.recurrent_activation;
  switch (g.cell) {
    case RecurrentCell::SimpleRNN:
      if (xbias)
        for (int64_t j = 0; j < w; ++j) pre[j] += xr[j] + xbias[j];
      else
        for (int64_t j = 0; j < w; ++j) pre[j] += xr[j];
      activate(a, pre, w);
      std::memcpy(h_out, pre, size_t(w) * sizeof(float));
      break;
    case RecurrentCell::LSTM:
      // Compiled for each pair of activations: Keras's (tanh, sigmoid) among them.
      with_lanes(a, [&](auto act) {
        with_lanes(ra, [&](auto recurrent_act) {
          int64_t j = 0;
          for (; j + kLanes <= w; j += kLanes)
            lstm_units(pre + j, ps, xr + j, xs, xbias ? xbias + j : nullptr, c + j, h_out + j, kLanes, kept, j, act,
                       recurrent_act);
          if (j < w)
            lstm_units(pre + j, ps, xr + j, xs, xbias ? xbias + j : nullptr, c + j, h_out + j, w - j, kept, j, act,
                       recurrent_act);
        });
      });
      return;
    case RecurrentCell::GRU: {
      for (int64_t gate = 0; gate < 2; ++gate) {
        float* p = pre + gate * ps;
        const float* q = xr + gate * xs;
        const float* qb = xbias ? xbias + gate * xs : nullptr;
        const float* rb = rbias ? rbias + gate * xs : nullptr;
        if (qb && rb)
          for (int64_t j = 0; j < w; ++j) p[j] += (q[j] + qb[j]) + rb[j];
        else if (qb)
          for (int64_t j = 0; j < w; ++j) p[j] += q[j] + qb[j];
        else if (rb)
          for (int64_t j = 0; j < w; ++j) p[j] += q[j] + rb[j];
        else
          for (int64_t j = 0; j < w; ++j) p[j] += q[j];
      }
      if (rbias)
        for (int64_t j = 0; j < w; ++j) pre[2 * ps + j] += rbias[2 * xs + j];
      activate(ra, pre, w);       // z
      activate(ra, pre + ps, w);  // r
      // pre + 2 * ps stays the recurrent term of the candidate, h_{t-1} U_h + b_rh (backward reads it).
      const float *z = pre, *r = pre + ps, *inner = pre + 2 * ps;
      float* hh = pre + 3 * ps;
      if (xbias)
        for (int64_t j = 0; j < w; ++j) hh[j] = (xr[2 * xs + j] + xbias[2 * xs + j]) + r[j] * inner[j];
      else
        for (int64_t j = 0; j < w; ++j) hh[j] = xr[2 * xs + j] + r[j] * inner[j];
      activate(a, hh, w);
      for (int64_t j = 0; j < w; ++j) h_out[j] = z[j] * h_prev[j] + (1.f - z[j]) * hh[j];
      if (kept) std::memcpy(kept->cell, inner, size_t(w) * sizeof(float));
      break;
    }
  }
  if (kept) {
    const bool gru = g.cell == RecurrentCell::GRU;
    for (int64_t gate = 0; gate < recurrent_gates(g.cell); ++gate)
      std::memcpy(kept->gates + gate * xs, pre + (gru && gate == 2 ? 3 : gate) * ps, size_t(w) * sizeof(float));
  }
}

// A step's recurrent product small enough for the GEMM's one-thread rule (batch 1 of an LSTM of 128
// units) leaves the other cores idle for the whole sequence, and its weights stream from one core's
// cache. A team then shares the units instead: each thread computes its units' columns of every gate
// and their new state, and one barrier a step publishes the state (two buffers: the threads read
// one while they write the other; a spinning barrier, spin_barrier.hpp). Every unit's sums run in
// the same order whichever thread owns it, so the values do not depend on the team's size (one
// thread keeps the GEMM, faster alone: 2.6 us a step against 3.1). Units in whole cache lines, each
// thread at least kTeamUnits of them; no masks (they take the row path).
constexpr int64_t kTeamUnits = 32;
// Steps whose recurrent product a team multiplies in bfloat16 pairs, from which the pairs repay their
// rounding: an LSTM of 128 units at batch 1 took 15.3 us for 2 steps against 10.7 in float32, 20.5
// against 20.6 for 6 and 32.2 against 39.1 for 12 (bench/README.md, "The recurrent team's products
// in bfloat16").
constexpr int64_t kPairedSteps = 6;
// Rows a thread needs to carry its own through a sequence: fewer, and each thread would stream the
// whole recurrent kernel for too few rows.
constexpr int64_t kRowsPerThread = 16;
// Rows from which backward's d h_{t-1} goes through block_product: for one row sgemm took 2.6 us a
// step against 3.1, for two 2.8 against 3.4; for four 6.8 against 5.0.
constexpr int64_t kBlockProductMinRows = 4;
// The forward's step products from as many rows go through block_product too, on the recurrent
// kernel where it lies. sgemm packs the kernel anew at every call; that copy beside the kernel and
// the step's projections outgrows an AVX2 core's L2, the likely reason (no cache counters to show
// it) why the layer's products took twice their time alone. Alone, one thread's 32 rows of the
// benchmark's LSTM took 52-66 us by sgemm against 66-83 in blocks; inside the layer the blocks made
// its batch-64 forward 21.6 -> 19.2 ms (medians of eight alternated runs; bench/README.md, "The
// LSTM's step products in register blocks").

// Under mixed_bfloat16: whether a product of `rows` rows by a [K, N] matrix (a step's: the rows a
// thread carries; the input projection's and dx's: the batch's steps) multiplies in
// bfloat16: from 16 rows and 2^17 multiply-adds. One thread's recurrent product of 32 rows of the
// benchmark's LSTM took 22.7 us so against 36.9 in float32, 16 rows of 192 x 64 took 3.7 against 4.5,
// but one row 5.2 against 2.8 and 16 rows of 96 x 32 3.1 against 1.7 (bench/README.md, "The
// recurrent layers under mixed_bfloat16").
constexpr int64_t kBf16Work = int64_t(1) << 17;
bool products_in_bf16(const RecurrentGeometry& g, int64_t rows, int64_t N, int64_t K) {
  return g.bf16 && rows >= kRowsPerThread && rows * N * K >= kBf16Work;
}

// The rows each thread carries through the sequence where the threads share them (more than one
// row thread), else the batch.
int row_threads_for(int64_t batch) { return int(std::min<int64_t>(omp_get_max_threads(), batch / kRowsPerThread)); }
int64_t rows_each(int64_t batch) {
  const int threads = row_threads_for(batch);
  return threads > 1 ? batch / threads : batch;
}

// Where the team's threads write, each in whole cache lines of its own (a line two threads write
// ping-pongs between their cores at every step).
constexpr int64_t kLineFloats = 64 / sizeof(float);
float* line_aligned(std::vector<float>& v, int64_t floats) {
  v.resize(size_t(floats + kLineFloats));
  const auto misalignment = int64_t(reinterpret_cast<uintptr_t>(v.data()) % 64) / int64_t(sizeof(float));
  return v.data() + (misalignment ? kLineFloats - misalignment : 0);
}


void recurrent_forward_by_units(const RecurrentGeometry& g, const float* recurrent_kernel, const float* bias, bool h0,
                                float* y, bool keep, RecurrentWorkspace& ws) {
  const int64_t B = g.batch, T = g.steps, U = g.units, G = recurrent_gates(g.cell), N = G * U;
  const bool gru = g.cell == RecurrentCell::GRU;
  const float* rbias = gru && bias ? bias + N : nullptr;
  const int64_t unit_lines = U / kLineFloats;  // the units are shared out by cache lines
  const int team = recurrent_team_size(g, nullptr);
  // The state in two line-aligned buffers: the threads read one while they write the other.
  float* state[2];
  state[0] = line_aligned(ws.h_other, 2 * B * U);
  state[1] = state[0] + B * U;
  std::memcpy(state[0], ws.h.data(), size_t(B * U) * sizeof(float));
  // Each thread's pre-activations ([G + 1][w]: the gates, then GRU's candidate) and cell states
  // ([B][w]) in lines of its own, for at most w_most units.
  const int64_t w_most = (unit_lines + team - 1) / team * kLineFloats, per_thread = (G + 1 + B) * w_most;
  float* own_all = line_aligned(ws.hr, team * per_thread);
  // mixed_bfloat16: the recurrent kernel in bfloat16 pairs, each thread rounding its own columns
  // once a call, and the state it reads at every step; where enough steps multiply to repay the
  // rounding (kPairedSteps).
  const bool pairs = g.bf16 && pair_products_pay() && (h0 ? T : T - 1) >= kPairedSteps;
  if (pairs) ws.recurrent_pairs.resize(size_t(U / 2 * N));  // units [u0, u1) at G * (U / 2) * u0
  SpinBarrier barrier;
#pragma omp parallel num_threads(team)
  {
    const int t = omp_get_thread_num(), threads = omp_get_num_threads();
#pragma omp single
    barrier.set_threads(threads);  // OpenMP may give fewer threads than asked for
    const int64_t u0 = unit_lines * t / threads * kLineFloats, u1 = unit_lines * (t + 1) / threads * kLineFloats;
    const int64_t w = u1 - u0;
    float* pre = own_all + t * per_thread;
    float* c = pre + (G + 1) * w;
    std::vector<uint32_t> h_pairs(pairs ? size_t(U / 2) : 0);
    uint32_t* own_pairs = pairs ? ws.recurrent_pairs.data() + G * (U / 2) * u0 : nullptr;
    if (pairs) pair_team_columns(G, recurrent_kernel, U, u0, w, own_pairs);
    if (g.cell == RecurrentCell::LSTM)
      for (int64_t b = 0; b < B; ++b) std::memcpy(c + b * w, ws.c.data() + b * U + u0, size_t(w) * sizeof(float));
    for (int64_t s = 0; s < T; ++s) {
      const int64_t time = time_of(g, s);
      const float* h_in = state[s % 2];
      float* h_out = state[(s + 1) % 2];
      for (int64_t b = 0; b < B; ++b) {
        const float* xr = ws.xw.data() + (b * T + time) * N + u0;  // gate k's units at xr[k * U + (0, w)]
        const float* hb = h_in + b * U;
        float* out = h_out + b * U + u0;
        if (s == 0 && !h0)
          std::fill(pre, pre + G * w, 0.f);  // h_{-1} = 0
        else if (pairs)
          pairs_step_product(G, hb, U, h_pairs.data(), own_pairs, w, pre);
        else
          recurrent_product(G, hb, U, recurrent_kernel + u0, N, U, pre, w, w / kLanes);
        if (keep) std::memcpy(ws.h_prev.data() + (b * T + time) * U + u0, hb + u0, size_t(w) * sizeof(float));
        KeptStep kept{};
        if (keep) kept = kept_step(g, ws, (b * T + time) * U + u0);
        cell_step(g, pre, w, xr, U, bias ? bias + u0 : nullptr, rbias ? rbias + u0 : nullptr, hb + u0, c + b * w, out,
                  w, keep ? &kept : nullptr);
        if (g.return_sequences) std::memcpy(y + (b * T + s) * U + u0, out, size_t(w) * sizeof(float));
      }
      barrier.arrive_and_wait();
    }
    if (g.cell == RecurrentCell::LSTM)
      for (int64_t b = 0; b < B; ++b) std::memcpy(ws.c.data() + b * U + u0, c + b * w, size_t(w) * sizeof(float));
  }
  std::memcpy(ws.h.data(), state[T % 2], size_t(B * U) * sizeof(float));
  if (!g.return_sequences) std::memcpy(y, ws.h.data(), size_t(B * U) * sizeof(float));
}

}  // namespace

int recurrent_team_size(const RecurrentGeometry& g, const float* recurrent_mask) {
  const int64_t N = recurrent_gates(g.cell) * g.units;
  if (g.mask || recurrent_mask || g.units % kLineFloats != 0 || g.batch * N * g.units > kGemmOneThreadWork) return 1;
  return int(std::clamp<int64_t>(g.units / kTeamUnits, 1, omp_get_max_threads()));
}

int64_t recurrent_gates(RecurrentCell cell) {
  switch (cell) {
    case RecurrentCell::LSTM: return 4;
    case RecurrentCell::GRU: return 3;
    default: return 1;
  }
}

bool recurrent_activation_supported(ActivationKind kind) {
  return kind == ActivationKind::Tanh || kind == ActivationKind::Sigmoid || kind == ActivationKind::ReLU ||
         kind == ActivationKind::Linear;
}

void recurrent_forward(const RecurrentGeometry& g, const float* x, const float* kernel, const float* recurrent_kernel,
                       const float* bias, const float* recurrent_mask, const float* h0, const float* c0, float* y,
                       bool keep, RecurrentWorkspace& ws) {
  const int64_t B = g.batch, T = g.steps, F = g.features, U = g.units, N = recurrent_gates(g.cell) * U;
  const bool gru = g.cell == RecurrentCell::GRU;
  const int64_t ld = gru ? N + U : N;  // a row of hr: the recurrent projection (GRU: then the candidate state)
  ws.xw.resize(size_t(B * T * N));
  ws.hr.resize(size_t(B * ld));
  if (h0)
    ws.h.assign(h0, h0 + B * U);
  else
    ws.h.assign(size_t(B * U), 0.f);
  if (g.cell == RecurrentCell::LSTM) {
    if (c0)
      ws.c.assign(c0, c0 + B * U);
    else
      ws.c.assign(size_t(B * U), 0.f);
    // Backward reads c_{-1} for the first step's forget gate.
    ws.has_c0 = c0 != nullptr;
    if (c0) ws.c0.assign(c0, c0 + B * U);
  }
  if (keep) {
    ws.h_prev.resize(size_t(B * T * U));
    ws.gates.resize(size_t(B * T * N));
    if (g.cell != RecurrentCell::SimpleRNN) ws.cell.resize(size_t(B * T * U));
  }
  // Every step's input projection in one GEMM; the steps add the input bias as they read it (a
  // pass of its own over these B * T rows took 0.9 ms of an LSTM's 19 at batch 64 on an AMD Zen 3).
  if (products_in_bf16(g, B * T, N, F))
    gemm_bf16(false, false, B * T, N, F, x, F, kernel, N, ws.xw.data(), N);
  else
    gemm(false, false, B * T, N, F, 1.f, x, F, kernel, N, 0.f, ws.xw.data(), N);
  if (recurrent_team_size(g, recurrent_mask) > 1)
    return recurrent_forward_by_units(g, recurrent_kernel, bias, h0 != nullptr, y, keep, ws);
  const float* rbias = gru && bias ? bias + N : nullptr;  // GRU's recurrent bias
  const bool bf16 = products_in_bf16(g, rows_each(B), N, U);
  if (bf16) {  // rounded once a call, read at every step
    ws.recurrent_bf16.resize(size_t(U * N));
    to_bf16(recurrent_kernel, ws.recurrent_bf16.data(), U * N);
  }

  float* h = ws.h.data();
  float* c = ws.c.data();
  const float* mask = g.mask;
  // With masks, a masked step carries the state as it was before the dropout mask touched it.
  const bool save_h = mask && recurrent_mask;
  if (save_h) ws.hs.resize(size_t(B * U));
  // Step s's recurrent products of rows [b0, b1).
  auto recurrent_products = [&](int64_t s, int64_t b0, int64_t b1) {
    // The step's input projections, each row's N values T * N apart in xw, are fetched towards
    // the core's cache while the product runs: the step's element-wise pass read them from memory.
    for (int64_t b = b0; b < b1; ++b) {
      const float* xr = ws.xw.data() + (b * T + time_of(g, s)) * N;
      for (int64_t j = 0; j < N; j += kLineFloats) __builtin_prefetch(xr + j, 0, 2);
    }
    float* hr = ws.hr.data() + b0 * ld;
    if (s == 0 && !h0) {
      std::fill(hr, hr + (b1 - b0) * ld, 0.f);  // h_{-1} = 0
      return;
    }
    // Recurrent dropout: the state this step reads is h_{t-1} times the mask, in place (the
    // previous step's output has been written already).
    float* hb = h + b0 * U;
    const int64_t n = (b1 - b0) * U;
    if (save_h) std::memcpy(ws.hs.data() + b0 * U, hb, size_t(n) * sizeof(float));
    if (recurrent_mask)
      for (int64_t i = 0; i < n; ++i) hb[i] *= recurrent_mask[b0 * U + i];
    if (bf16)
      gemm_bf16(false, false, b1 - b0, N, U, hb, U, ws.recurrent_bf16.data(), N, hr, ld);
    else if (b1 - b0 >= kBlockProductMinRows && block_product_fits(N))  // see kBlockProductMinRows
      block_product(b1 - b0, N, U, hb, U, recurrent_kernel, N, hr, ld, false);
    else
      gemm(false, false, b1 - b0, N, U, 1.f, hb, U, recurrent_kernel, N, 0.f, hr, ld);
  };
  // Step s of row b: whole-array passes (sum, activations, state update) rather than one unit at a
  // time, so that each loop vectorises; each unit's new state depends on its own old state only, so
  // h and c update in place.
  auto step_row = [&](int64_t s, int64_t b) {
    const int64_t t = time_of(g, s);
    const float* xr = ws.xw.data() + (b * T + t) * N;
    float* pre = ws.hr.data() + b * ld;  // pre-activations, then gate outputs, in place
    float* hb = h + b * U;
    if (mask && mask[b * T + t] == 0.f) {
      // A masked step: the state stays; backward gives it no gate gradient.
      if (save_h && !(s == 0 && !h0)) std::memcpy(hb, ws.hs.data() + b * U, size_t(U) * sizeof(float));
      if (keep) {
        std::memcpy(ws.h_prev.data() + (b * T + t) * U, hb, size_t(U) * sizeof(float));
        // LSTM: the next step's backward reads c_{t-1} here.
        if (g.cell == RecurrentCell::LSTM)
          std::memcpy(ws.cell.data() + (b * T + t) * U, c + b * U, size_t(U) * sizeof(float));
      }
      if (g.return_sequences) {
        float* yr = y + (b * T + s) * U;
        if (g.zero_output_for_mask || s == 0)
          std::fill(yr, yr + U, 0.f);
        else
          std::memcpy(yr, yr - U, size_t(U) * sizeof(float));
      }
      return;
    }
    if (keep) std::memcpy(ws.h_prev.data() + (b * T + t) * U, hb, size_t(U) * sizeof(float));
    KeptStep kept{};
    if (keep) kept = kept_step(g, ws, (b * T + t) * U);
    cell_step(g, pre, U, xr, U, bias, rbias, hb, g.cell == RecurrentCell::LSTM ? c + b * U : nullptr, hb, U,
              keep ? &kept : nullptr);
    if (g.return_sequences) std::memcpy(y + (b * T + s) * U, hb, size_t(U) * sizeof(float));
  };
  // Rows never meet, so with enough of them each thread carries its own through the whole sequence:
  // one parallel region a call instead of two a step, whose forks, joins and waits took a tenth of
  // an LSTM's batch-64 forward.
  const int row_threads = row_threads_for(B);
  if (row_threads > 1) {
#pragma omp parallel num_threads(row_threads)
    {
      const int64_t part = omp_get_thread_num(), parts = omp_get_num_threads();
      const int64_t b0 = B * part / parts, b1 = B * (part + 1) / parts;
      for (int64_t s = 0; s < T; ++s) {
        recurrent_products(s, b0, b1);
        for (int64_t b = b0; b < b1; ++b) step_row(s, b);
      }
    }
  } else {
    for (int64_t s = 0; s < T; ++s) {
      recurrent_products(s, 0, B);
      parallel_for(B, B * N, [&](int64_t b) { step_row(s, b); });
    }
  }
  if (!g.return_sequences) std::memcpy(y, h, size_t(B * U) * sizeof(float));
}

void recurrent_backward(const RecurrentGeometry& g, const float* x, const float* kernel,
                        const float* recurrent_kernel, const float* recurrent_mask, const float* dy,
                        const float* dh_last, const float* dc_last, RecurrentWorkspace& ws, float* dx, float* dkernel,
                        float* drecurrent, float* dbias, float* dh0, float* dc0) {
  const int64_t B = g.batch, T = g.steps, F = g.features, U = g.units, N = recurrent_gates(g.cell) * U;
  const ActivationKind a = g.activation, ra = g.recurrent_activation;
  const bool gru = g.cell == RecurrentCell::GRU;
  ws.dz.resize(size_t(B * T * N));
  if (gru) ws.dzh.resize(size_t(B * T * N));
  // d(loss)/d h from the later steps: at the end, the final state's gradient (return_state).
  if (dh_last)
    ws.dh.assign(dh_last, dh_last + B * U);
  else
    ws.dh.assign(size_t(B * U), 0.f);
  if (g.cell == RecurrentCell::LSTM) {
    if (dc_last)
      ws.dc.assign(dc_last, dc_last + B * U);
    else
      ws.dc.assign(size_t(B * U), 0.f);
  }
  float* dh = ws.dh.data();
  float* dc = ws.dc.data();
  const float* mask = g.mask;
  // A masked step's output copies the one before it (zero_output_for_mask off): its gradient waits
  // in dyc for that step.
  const bool carry_dy = mask && dy && g.return_sequences && !g.zero_output_for_mask;
  if (carry_dy) ws.dyc.assign(size_t(B * U), 0.f);

  // Step s of row b: its gates' gradients, from dh (and dy) of the later steps.
  auto step_row = [&](int64_t s, int64_t b) {
    const int64_t t = time_of(g, s);
    const int64_t t_before = s > 0 ? time_of(g, s - 1) : -1;  // the time of the step before this one
    const int64_t row = b * T + t;
    const float* dyr = !dy ? nullptr : g.return_sequences ? dy + (b * T + s) * U : (s == T - 1 ? dy + b * U : nullptr);
    const float* gr = ws.gates.data() + row * N;
    float* dzr = ws.dz.data() + row * N;
    float* dhb = dh + b * U;
    if (mask) {
      if (mask[row] == 0.f) {
        // The state passed through unchanged: dh and dc go on as they are, the gates get nothing.
        std::fill(dzr, dzr + N, 0.f);
        if (gru) std::fill(ws.dzh.data() + row * N, ws.dzh.data() + (row + 1) * N, 0.f);
        if (dyr && !g.return_sequences)  // the last output is the carried state
          for (int64_t j = 0; j < U; ++j) dhb[j] += dyr[j];
        if (carry_dy) {
          float* dycb = ws.dyc.data() + b * U;
          for (int64_t j = 0; j < U; ++j) dycb[j] += dyr[j];
        }
        return;
      }
      if (carry_dy) {
        // dy of this step plus that of the masked steps after it that copied its output, in place
        // in dyc (cleared for the steps before).
        float* dycb = ws.dyc.data() + b * U;
        for (int64_t j = 0; j < U; ++j) dhb[j] += dyr[j] + dycb[j];
        std::fill(dycb, dycb + U, 0.f);
        dyr = nullptr;
      }
    }
    switch (g.cell) {
      case RecurrentCell::SimpleRNN:
        for (int64_t j = 0; j < U; ++j) dzr[j] = (dhb[j] + (dyr ? dyr[j] : 0.f)) * act_grad(a, gr[j]);
        // With masks the recurrent GEMM adds to dh (masked rows keep theirs): this row starts at 0.
        if (mask) std::fill(dhb, dhb + U, 0.f);
        break;
      case RecurrentCell::LSTM: {
        const float* cp = t_before >= 0 ? ws.cell.data() + (b * T + t_before) * U
                                        : ws.has_c0 ? ws.c0.data() + b * U : nullptr;
        float* tcs = ws.hr.data() + b * U;  // activation(c_t), recomputed rather than kept
        std::memcpy(tcs, ws.cell.data() + row * U, size_t(U) * sizeof(float));
        activate(a, tcs, U);
        // dh is this step's alone from here: the GEMM below overwrites it, or nothing reads it.
        if (dyr)
          for (int64_t j = 0; j < U; ++j) dhb[j] += dyr[j];
        with_grads(a, ra, [&](auto ga, auto gra) {
          if (cp)
            lstm_backward_row<true>(U, gr, cp, tcs, dhb, dc + b * U, dzr, ga, gra);
          else
            lstm_backward_row<false>(U, gr, cp, tcs, dhb, dc + b * U, dzr, ga, gra);
        });
        if (mask) std::fill(dhb, dhb + U, 0.f);  // as SimpleRNN's: the GEMM below adds to it
        break;
      }
      case RecurrentCell::GRU: {
        if (dyr)
          for (int64_t j = 0; j < U; ++j) dhb[j] += dyr[j];
        with_grads(a, ra, [&](auto ga, auto gra) {
          gru_backward_row(U, gr, ws.h_prev.data() + row * U, ws.cell.data() + row * U, dhb, dzr,
                           ws.dzh.data() + row * N, ga, gra);
        });
        break;
      }
    }
  };
  // As in forward: with enough rows each thread carries its own through the whole sequence.
  const int row_threads = row_threads_for(B);
  // Where each step's d h_{t-1} is one thread's product of a few rows or more, block_product runs it
  // on the recurrent kernel's transpose, made once a call: sgemm's transposed product of 32 rows
  // took 57.8 us a step against 36.0 (bench/README.md, "The recurrent layers' backward products in
  // register blocks"). For one or two rows sgemm's path for thin products is the faster.
  const bool by_blocks = (row_threads > 1 || omp_get_max_threads() == 1) &&
                         rows_each(B) >= kBlockProductMinRows && block_product_fits(U);
  if (by_blocks) {
    ws.recurrent_t.resize(size_t(N * U));
    for (int64_t i = 0; i < U; ++i)
      for (int64_t j = 0; j < N; ++j) ws.recurrent_t[size_t(j * U + i)] = recurrent_kernel[i * N + j];
  }
  // d h_{t-1} of rows [b0, b1) through the recurrent kernel: rows b*T + t of dz, a stride of T*N
  // apart (at the first step, d h_0 of an initial state). GRU's and a masked sequence's add to dh.
  auto recurrent_products = [&](int64_t s, int64_t b0, int64_t b1) {
    if (s == 0 && !dh0) return;
    const int64_t t = time_of(g, s);
    float* dhb = dh + b0 * U;
    const float* dzr = (gru ? ws.dzh.data() : ws.dz.data()) + (b0 * T + t) * N;
    const bool add = gru || mask;
    if (by_blocks)
      block_product(b1 - b0, U, N, dzr, T * N, ws.recurrent_t.data(), U, dhb, U, add);
    else
      gemm(false, true, b1 - b0, U, N, 1.f, dzr, T * N, recurrent_kernel, N, add ? 1.f : 0.f, dhb, U);
    // Every use of h_{t-1} read it through the mask (a masked step's carry does not).
    if (recurrent_mask)
      for (int64_t b = b0; b < b1; ++b) {
        if (mask && mask[b * T + t] == 0.f) continue;
        for (int64_t j = 0; j < U; ++j) dh[b * U + j] *= recurrent_mask[b * U + j];
      }
  };
  if (row_threads > 1) {
#pragma omp parallel num_threads(row_threads)
    {
      const int64_t part = omp_get_thread_num(), parts = omp_get_num_threads();
      const int64_t b0 = B * part / parts, b1 = B * (part + 1) / parts;
      for (int64_t s = T - 1; s >= 0; --s) {
        for (int64_t b = b0; b < b1; ++b) step_row(s, b);
        recurrent_products(s, b0, b1);
      }
    }
  } else {
    for (int64_t s = T - 1; s >= 0; --s) {
      parallel_for(B, B * N, [&](int64_t b) { step_row(s, b); });
      recurrent_products(s, 0, B);
    }
  }

  if (dh0) std::memcpy(dh0, dh, size_t(B * U) * sizeof(float));
  if (dc0 && g.cell == RecurrentCell::LSTM) std::memcpy(dc0, dc, size_t(B * U) * sizeof(float));
  const float* dzh = gru ? ws.dzh.data() : ws.dz.data();
  if (dkernel) {
    // Float32 under mixed_bfloat16 too: over the batch's 6,400 steps the benchmark's LSTM's took
    // 4.2 ms so against 4.6 in bfloat16, whose rounding of both operands costs more than it saves.
    gemm(true, false, F, N, B * T, 1.f, x, F, ws.dz.data(), N, 0.f, dkernel, N);
    // The first step's h_{t-1} is zero, or the initial state kept in h_prev.
    gemm(true, false, U, N, B * T, 1.f, ws.h_prev.data(), U, dzh, N, 0.f, drecurrent, N);
    if (dbias) {
      column_sums(ws.dz.data(), dbias, B * T, N);
      if (gru) column_sums(dzh, dbias + N, B * T, N);
    }
  }
  if (dx && products_in_bf16(g, B * T, N, F))  // 2.5 ms against 4.6 in float32 for that LSTM
    gemm_bf16(false, true, B * T, F, N, ws.dz.data(), N, kernel, N, dx, F);
  else if (dx)
    gemm(false, true, B * T, F, N, 1.f, ws.dz.data(), N, kernel, N, 0.f, dx, F);
}

void bidirectional_merge(BidirectionalMerge mode, int64_t batch, int64_t steps, int64_t units, bool reverse,
                         const float* yf, const float* yb, float* y) {
  const int64_t U = units, T = steps;
  parallel_for_2d(batch, steps, batch * steps * U, [&](int64_t b, int64_t t) {
    const float* f = yf + (b * T + t) * U;
    const float* r = yb + (b * T + (reverse ? T - 1 - t : t)) * U;
    switch (mode) {
      case BidirectionalMerge::Concat: {
        float* out = y + (b * T + t) * 2 * U;
        std::memcpy(out, f, size_t(U) * sizeof(float));
        std::memcpy(out + U, r, size_t(U) * sizeof(float));
        break;
      }
      case BidirectionalMerge::Sum:
        for (int64_t j = 0; j < U; ++j) y[(b * T + t) * U + j] = f[j] + r[j];
        break;
      case BidirectionalMerge::Mul:
        for (int64_t j = 0; j < U; ++j) y[(b * T + t) * U + j] = f[j] * r[j];
        break;
      case BidirectionalMerge::Ave:
        for (int64_t j = 0; j < U; ++j) y[(b * T + t) * U + j] = 0.5f * (f[j] + r[j]);
        break;
    }
  });
}

void bidirectional_merge_backward(BidirectionalMerge mode, int64_t batch, int64_t steps, int64_t units, bool reverse,
                                  const float* dy, const float* yf, const float* yb, float* dyf, float* dyb) {
  const int64_t U = units, T = steps;
  parallel_for_2d(batch, steps, batch * steps * U, [&](int64_t b, int64_t t) {
    const int64_t rf = (b * T + t) * U, rb = (b * T + (reverse ? T - 1 - t : t)) * U;
    switch (mode) {
      case BidirectionalMerge::Concat:
        std::memcpy(dyf + rf, dy + (b * T + t) * 2 * U, size_t(U) * sizeof(float));
        std::memcpy(dyb + rb, dy + (b * T + t) * 2 * U + U, size_t(U) * sizeof(float));
        break;
      case BidirectionalMerge::Sum:
        std::memcpy(dyf + rf, dy + rf, size_t(U) * sizeof(float));
        std::memcpy(dyb + rb, dy + rf, size_t(U) * sizeof(float));
        break;
      case BidirectionalMerge::Mul:
        for (int64_t j = 0; j < U; ++j) {
          dyf[rf + j] = dy[rf + j] * yb[rb + j];
          dyb[rb + j] = dy[rf + j] * yf[rf + j];
        }
        break;
      case BidirectionalMerge::Ave:
        for (int64_t j = 0; j < U; ++j) dyf[rf + j] = dyb[rb + j] = 0.5f * dy[rf + j];
        break;
    }
  });
}

}  // namespace myelin::kernels
