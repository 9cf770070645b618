// Subnormal floats treated as zero while a scope runs on the calling thread.
//
// An optimizer's moments decay geometrically while a weight's gradient stays zero (a pixel that is
// black in every image of a batch), and reach the subnormal range after some hundreds of steps. x86
// cores compute on subnormal operands and results through a microcode assist of the order of a hundred
// cycles each; bench/README.md ("Subnormal moments in the optimizer") measures what it cost.
// TensorFlow and XLA run their kernels with the same two flags set.
#pragma once

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace myelin::kernels {

#if defined(__SSE__)
// MXCSR's flush-to-zero (FTZ) and denormals-are-zero (DAZ) bits.
inline constexpr unsigned kSubnormalModeBits = 0x8000 | 0x0040;
#endif

/// While alive, this thread's float arithmetic flushes subnormal results to zero and reads subnormal
/// operands as zero (MXCSR's FTZ and DAZ); the previous mode returns when it goes out of scope. A
/// no-op where the build targets no SSE.
class SubnormalsFlushed {
 public:
#if defined(__SSE__)
  SubnormalsFlushed() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kSubnormalModeBits); }
  ~SubnormalsFlushed() { _mm_setcsr(saved_); }
#endif
  SubnormalsFlushed(const SubnormalsFlushed&) = delete;
  SubnormalsFlushed& operator=(const SubnormalsFlushed&) = delete;

 private:
#if defined(__SSE__)
  unsigned saved_;
#endif
};

/// While alive, this thread treats subnormals as the thread did that read `mode` (subnormal_mode()):
/// a part of a computation handed to another thread gives the values it would have given at home.
class SubnormalsAs {
 public:
#if defined(__SSE__)
  explicit SubnormalsAs(unsigned mode) : saved_(_mm_getcsr()) {
    _mm_setcsr((saved_ & ~kSubnormalModeBits) | (mode & kSubnormalModeBits));
  }
  ~SubnormalsAs() { _mm_setcsr(saved_); }
#else
  explicit SubnormalsAs(unsigned) {}
#endif
  SubnormalsAs(const SubnormalsAs&) = delete;
  SubnormalsAs& operator=(const SubnormalsAs&) = delete;

 private:
#if defined(__SSE__)
  unsigned saved_;
#endif
};

/// The calling thread's subnormal mode, for SubnormalsAs (0 where the build targets no SSE).
#if defined(__SSE__)
inline unsigned subnormal_mode() { return _mm_getcsr(); }
#else
inline unsigned subnormal_mode() { return 0; }
#endif

}  // namespace myelin::kernels
