// A preload library that makes a Linux x86-64 process see a CPU without AVX-512: CPUID then reports
// no AVX-512 (any subset), no AVX512_BF16 or AVX512_FP16, no AVX-VNNI and no AMX, and no ZMM or
// opmask state in leaf 0xD. Libraries that choose their kernels from CPUID at run time (PyTorch,
// ONNX Runtime's MLAS, XLA, TensorFlow) then run their AVX2 kernels at full speed, so that the peers
// can be measured as on an AVX2 machine of the same core:
//
//   LD_PRELOAD=build/bench/libhide_avx512.so ONEDNN_MAX_CPU_ISA=AVX2 <command>
//
// oneDNN reads CPUID in its own initialiser, which can run before this one: ONEDNN_MAX_CPU_ISA holds
// it (and the oneDNN inside PyTorch and TensorFlow) to AVX2. myelin's own kernels are chosen when it
// is compiled: build it for AVX2 (-DMYELIN_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=haswell).
//
// How: the kernel's CPUID faulting (arch_prctl ARCH_SET_CPUID, where /proc/cpuinfo lists
// cpuid_fault) makes every CPUID instruction raise SIGSEGV; the handler runs the real instruction
// with faulting switched off for a moment, clears the bits above and steps over it. A handler the
// process installs for SIGSEGV itself (Python's faulthandler, under pytest) is kept aside and called
// for every other fault: this library's sigaction and signal stand in for the C library's.
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace {

void set_cpuid_faulting(bool on) {
  if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1) != 0 && on) {
    static const char message[] = "hide_avx512: this kernel or CPU has no CPUID faulting; nothing hidden\n";
    (void)!write(2, message, sizeof message - 1);
  }
}

constexpr uint32_t bit(int b) { return uint32_t(1) << b; }

// Leaf 7, subleaf 0: EBX AVX512F, DQ, IFMA, PF, ER, CD, BW, VL; ECX VBMI, VBMI2, VNNI, BITALG,
// VPOPCNTDQ; EDX 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512_FP16, AMX-TILE, AMX-INT8.
constexpr uint32_t kLeaf7Ebx = bit(16) | bit(17) | bit(21) | bit(26) | bit(27) | bit(28) | bit(30) | bit(31);
constexpr uint32_t kLeaf7Ecx = bit(1) | bit(6) | bit(11) | bit(12) | bit(14);
constexpr uint32_t kLeaf7Edx = bit(2) | bit(3) | bit(8) | bit(22) | bit(23) | bit(24) | bit(25);
// Leaf 7, subleaf 1: EAX AVX-VNNI, AVX512_BF16. Leaf 0xD, subleaf 0: EAX opmask, ZMM_Hi256, Hi16_ZMM.
constexpr uint32_t kLeaf7Sub1Eax = bit(4) | bit(5);
constexpr uint32_t kLeafDEax = bit(5) | bit(6) | bit(7);

using Sigaction = int (*)(int, const struct sigaction*, struct sigaction*);
Sigaction libc_sigaction() {
  static const auto f = reinterpret_cast<Sigaction>(dlsym(RTLD_NEXT, "sigaction"));
  return f;
}

bool installed = false;
struct sigaction process_action;  // what the process asked for SIGSEGV; zero is SIG_DFL

// A fault that is not CPUID goes where the process asked; by default it ends the process as usual.
void forward(int sig, siginfo_t* info, void* context) {
  if (process_action.sa_flags & SA_SIGINFO) return process_action.sa_sigaction(sig, info, context);
  if (process_action.sa_handler != SIG_DFL && process_action.sa_handler != SIG_IGN)
    return process_action.sa_handler(sig);
  struct sigaction fallback;
  std::memset(&fallback, 0, sizeof fallback);
  fallback.sa_handler = SIG_DFL;
  libc_sigaction()(SIGSEGV, &fallback, nullptr);  // the instruction faults again and ends the process
}

void on_sigsegv(int sig, siginfo_t* info, void* context) {
  greg_t* r = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  const auto* ip = reinterpret_cast<const unsigned char*>(r[REG_RIP]);
  if (ip[0] != 0x0f || ip[1] != 0xa2) return forward(sig, info, context);
  const uint32_t leaf = uint32_t(r[REG_RAX]), subleaf = uint32_t(r[REG_RCX]);
  uint32_t a, b, c, d;
  set_cpuid_faulting(false);
  __cpuid_count(leaf, subleaf, a, b, c, d);
  set_cpuid_faulting(true);
  if (leaf == 7 && subleaf == 0) b &= ~kLeaf7Ebx, c &= ~kLeaf7Ecx, d &= ~kLeaf7Edx;
  if (leaf == 7 && subleaf == 1) a &= ~kLeaf7Sub1Eax;
  if (leaf == 0xd && subleaf == 0) a &= ~kLeafDEax;
  r[REG_RAX] = a, r[REG_RBX] = b, r[REG_RCX] = c, r[REG_RDX] = d;
  r[REG_RIP] += 2;
}

__attribute__((constructor)) void hide_avx512() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigsegv;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  libc_sigaction()(SIGSEGV, &action, nullptr);
  installed = true;
  set_cpuid_faulting(true);
}

}  // namespace

extern "C" int sigaction(int sig, const struct sigaction* action, struct sigaction* old) {
  if (sig != SIGSEGV || !installed) return libc_sigaction()(sig, action, old);
  if (old) *old = process_action;
  if (action) process_action = *action;
  return 0;
}

extern "C" sighandler_t signal(int sig, sighandler_t handler) {
  struct sigaction action, old;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  action.sa_flags = SA_RESTART;
  if (sigaction(sig, &action, &old) != 0) return SIG_ERR;
  return (old.sa_flags & SA_SIGINFO) ? SIG_DFL : old.sa_handler;
}
