// The pause inside a spin-wait: it tells an x86 core that the loop waits (saving power and leaving the
// pipeline to a sibling thread); elsewhere the thread yields.
#pragma once

#if !defined(__x86_64__) && !defined(__i386__)
#include <thread>
#endif

namespace myelin::kernels {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace myelin::kernels
