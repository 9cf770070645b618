// Recurrent cells over whole sequences (Keras's SimpleRNN, LSTM and GRU with reset_after), forward and
// backward through time.
//
// Shape letters: B batch, T steps, F input features, U units, G gates (SimpleRNN 1, LSTM 4, GRU 3),
// N = G*U. Input x is [B, T, F]; kernel [F, N], recurrent kernel [U, N], bias [N] (GRU: [2, N], the
// input bias then the recurrent one). Gate order as Keras stores them: LSTM i, f, c, o; GRU z, r, h.
//
// The input's projection for every step is one GEMM before the loop ([B*T, F] x [F, N]); each step
// then adds h_{t-1} x recurrent kernel (one GEMM of [B, U] x [U, N]) and runs the gates in one
// element-wise pass. Backward walks the steps in reverse (one GEMM per step for d h_{t-1}) and
// leaves the weight gradients to three GEMMs over all steps at once.
//
// Step s runs on time t = s, or t = T-1-s with go_backwards; a returned sequence is in step order,
// as Keras returns it (reversed in time under go_backwards).
#pragma once
#include <cstdint>
#include <vector>

#include "myelin/activations.hpp"

namespace myelin::kernels {

enum class RecurrentCell { SimpleRNN, LSTM, GRU };

/// Gates per unit: 1, 4, 3.
int64_t recurrent_gates(RecurrentCell cell);

/// True for the activations a cell can take: those whose derivative follows from their output
/// (linear, relu, sigmoid, tanh), so backward needs to keep only the gates' outputs.
bool recurrent_activation_supported(ActivationKind kind);

struct RecurrentGeometry {
  RecurrentCell cell = RecurrentCell::SimpleRNN;
  int64_t batch = 0, steps = 0, features = 0, units = 0;
  ActivationKind activation = ActivationKind::Tanh;
  ActivationKind recurrent_activation = ActivationKind::Sigmoid;
  bool go_backwards = false;
  bool return_sequences = false;
  // Keras's masks: mask [B, T] (by time, 1 where the step holds data, 0 where it is padding) or
  // null. At a masked step the state is carried over unchanged and no weight sees the input; a
  // returned sequence holds, at a masked step, zeros with zero_output_for_mask, else the output of
  // the step before it (zeros before any), as Keras's backends do. The final state and the last
  // output are the state after the sample's last unmasked step.
  const float* mask = nullptr;
  bool zero_output_for_mask = false;
  // mixed_bfloat16: the products where bfloat16 pays multiply bfloat16 operands (x, h, dz and the
  // weights rounded) into float32 sums: forward's input projection and each step's recurrent
  // products, and backward's dx, wherever they have 16 rows and 2^17 multiply-adds or more (a step's
  // rows: those a thread carries), and each step's recurrent products where a team shares the units
  // (recurrent_team_size; batch 1), six steps or more multiply, and the CPU runs bf16.hpp's pair
  // kernels (pair_products_pay). Other small products stay float32 (one thread's step at batch 1, few
  // units). The weight gradients and backward's step products stay float32, where bfloat16 measured
  // no faster; so do the state, the gates and every element-wise step.
  bool bf16 = false;
};

/// What forward keeps for backward, and the scratch of both; sized by the calls, reused between batches.
struct RecurrentWorkspace {
  std::vector<float> xw;      // [B, T, N] input projection (plus the input bias)
  std::vector<float> hr;      // [B, N] h_{t-1} x recurrent kernel of one step (GRU [B, N + U]: and the
                              // candidate state); backward's scratch, and a team's
  std::vector<float> h, c;    // [B, U] running state (c: LSTM); after forward, the final state
  std::vector<float> h_other; // a team sharing the units (batch 1): the state's two buffers, read and written in turn
  std::vector<float> c0;      // [B, U] LSTM: the initial cell state, when given
  bool has_c0 = false;
  // Kept for backward, indexed by time t:
  std::vector<float> h_prev;  // [B, T, U] the state each step read
  std::vector<float> gates;   // [B, T, N] gate outputs (SimpleRNN: h_t; LSTM i f g o; GRU z r hh)
  std::vector<float> cell;    // [B, T, U] LSTM: c_t; GRU: the recurrent h-gate term (h_{t-1} U_h + b_rh)
  // Backward scratch:
  std::vector<float> dz;      // [B, T, N] d(loss)/d(input projection)
  std::vector<float> dzh;     // [B, T, N] GRU: d(loss)/d(recurrent projection)
  std::vector<float> dh, dc;  // [B, U]
  std::vector<float> recurrent_t;  // [N, U] the recurrent kernel transposed, for d h_{t-1} in register blocks
  std::vector<uint16_t> recurrent_bf16;  // [U, N] bf16: the recurrent kernel rounded once a forward
  std::vector<uint32_t> recurrent_pairs;  // [U / 2, N] a team's threads' columns of it as bfloat16 pairs of rows
  std::vector<float> hs;      // [B, U] masks with recurrent dropout: the state before the dropout mask
  std::vector<float> dyc;     // [B, U] masks: the gradient of a masked step's output, a copy of the one before
};

/// How many threads recurrent_forward shares each step's units among: more than one where the step's
/// recurrent product is too small to share by rows (batch 1 of 64 units or more) and there is no
/// mask; else 1, and the batch's rows are shared instead. The values do not depend on the count
/// when it is above 1.
int recurrent_team_size(const RecurrentGeometry& g, const float* recurrent_mask);

/// y: [B, T, U] with return_sequences, else [B, U] (the last step's state). With `keep`, stores in
/// `ws` what recurrent_backward reads. recurrent_mask ([B, U], or null): Keras 3's recurrent
/// dropout, multiplying h_{t-1} wherever a step reads it (GRU's carry of h_{t-1} included).
/// h0, c0 ([B, U], or null for zeros): the initial state (c0: LSTM). The final state is left in
/// ws.h and ws.c.
void recurrent_forward(const RecurrentGeometry& g, const float* x, const float* kernel, const float* recurrent_kernel,
                       const float* bias, const float* recurrent_mask, const float* h0, const float* c0, float* y,
                       bool keep, RecurrentWorkspace& ws);

/// From dy (shaped as y; null for none) of the last kept forward (with its recurrent_mask) and the
/// final state's gradients dh_last, dc_last ([B, U], or null for none): the weight gradients
/// (overwritten; null skips them all, as for a frozen layer; dbias null when there is no bias), dx
/// [B, T, F] and the initial state's dh0, dc0 ([B, U]) (each null skips it).
void recurrent_backward(const RecurrentGeometry& g, const float* x, const float* kernel,
                        const float* recurrent_kernel, const float* recurrent_mask, const float* dy,
                        const float* dh_last, const float* dc_last, RecurrentWorkspace& ws, float* dx, float* dkernel,
                        float* drecurrent, float* dbias, float* dh0, float* dc0);

/// How Bidirectional combines its two layers' outputs (Keras's merge_mode).
enum class BidirectionalMerge { Concat, Sum, Mul, Ave };

/// y from the forward and backward layers' outputs yf, yb, each [B, T, U] (T = 1 for last states).
/// With `reverse` (sequences), yb's steps are taken in reverse, which aligns them with the input's
/// time. y is [B, T, 2U] for Concat (yf's units first), else [B, T, U].
void bidirectional_merge(BidirectionalMerge mode, int64_t batch, int64_t steps, int64_t units, bool reverse,
                         const float* yf, const float* yb, float* y);
/// The gradients of yf and yb from dy (the inverse routing of bidirectional_merge).
void bidirectional_merge_backward(BidirectionalMerge mode, int64_t batch, int64_t steps, int64_t units, bool reverse,
                                  const float* dy, const float* yf, const float* yb, float* dyf, float* dyb);

}  // namespace myelin::kernels
