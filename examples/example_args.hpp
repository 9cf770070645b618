// The examples' shared command line: --epochs N --batch-size N --seed N --data PATH --threads N
// --verbose N, --winograd 0|1 for the convolutional ones, --precision fp32|bf16|auto for those
// that offer bfloat16, --model NAME for those that offer several networks, and --help (also written
// --flag=value). Each example passes its own defaults, so it runs as it is with no arguments; an
// unknown flag or a bad value prints a message and exits with 2.
// An error the program does not catch (a missing data file) is printed as one line, exit status 1,
// rather than as an abort, so that the examples can read as plainly as a Keras script.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace example {

struct Args {
  int epochs = 1;
  int batch_size = 32;
  uint64_t seed = 42;
  std::string data;  ///< empty: the loader's default place
  int threads = 0;   ///< 0: all cores
  int verbose = 0;   ///< as fit(): 0 silent, 1 progress bar, 2 one line per epoch
  bool uses_data = true;  ///< false for examples that make their own data: --data is then refused
  bool uses_convolutions = false;  ///< true: --winograd 0|1 is accepted
  bool winograd = true;            ///< --winograd: 1 lets 3x3 convolutions run as Winograd, 0 keeps them direct
  bool uses_precision = false;     ///< true: --precision fp32|bf16|auto is accepted
  std::string precision = "fp32";  ///< --precision: "bf16" asks for the mixed_bfloat16 policy, "auto" for "auto"
  std::string output;              ///< --output PATH for examples that write a file (non-empty default: accepted)
  std::vector<std::string> models;  ///< non-empty: --model NAME picks one of these networks
  std::string model;                ///< the network chosen (default: models' first)
};

namespace detail {

[[noreturn]] inline void usage_error(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program, message.c_str(), program);
  std::exit(2);
}

// Whole-string integer in [lo, hi]; anything else is a usage error.
inline long long to_int(const char* program, const std::string& flag, const std::string& text, long long lo,
                        long long hi) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < lo || v > hi)
    usage_error(program, flag + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "], got '" + text + "'");
  return v;
}

}  // namespace detail

/// Makes an exception the program does not catch print one "PROGRAM: error: ..." line and exit
/// with status 1. parse_args calls it; an example with its own command line calls it first.
inline void print_uncaught_errors(const char* program_name) {
  static const char* program = "example";
  program = program_name;
  std::set_terminate([] {
    try {
      if (auto e = std::current_exception()) std::rethrow_exception(e);
      std::fprintf(stderr, "%s: terminated\n", program);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    } catch (...) {
      std::fprintf(stderr, "%s: unknown error\n", program);
    }
    std::fflush(stdout);
    std::_Exit(1);
  });
}

/// Parses argv over `defaults`. `about` is the example's one-line description, shown by --help.
inline Args parse_args(int argc, char** argv, const char* about, Args defaults) {
  Args a = defaults;
  if (a.model.empty() && !a.models.empty()) a.model = a.models.front();
  const char* program = argc > 0 ? argv[0] : "example";
  print_uncaught_errors(program);
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    bool inline_value = false;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      std::printf("%s\n\nUsage: %s [options]\n", about, program);
      std::printf("  --epochs N      training epochs (default %d)\n", defaults.epochs);
      std::printf("  --batch-size N  samples per gradient step (default %d)\n", defaults.batch_size);
      std::printf("  --seed N        seed for data shuffling and weight initialisation (default %llu)\n",
                  (unsigned long long)defaults.seed);
      if (defaults.uses_data)
        std::printf("  --data PATH     where the data set is read from (default: %s)\n",
                    defaults.data.empty() ? "the loader's default place" : defaults.data.c_str());
      if (!defaults.output.empty())
        std::printf("  --output PATH   where the example writes its picture (default: %s)\n", defaults.output.c_str());
      std::printf("  --threads N     threads to compute with (default: all cores)\n");
      if (!defaults.models.empty()) {
        std::string names;
        for (const auto& m : defaults.models) names += (names.empty() ? "" : "|") + m;
        std::printf("  --model NAME    the network: %s (default %s)\n", names.c_str(), a.model.c_str());
      }
      if (defaults.uses_convolutions)
        std::printf("  --winograd 0|1  1: Winograd convolutions where they are faster (default); 0: direct ones\n");
      if (defaults.uses_precision)
        std::printf("  --precision P   fp32 (default), bf16 (Keras's mixed_bfloat16 policy) or auto (bf16 where it "
                    "runs faster than fp32)\n");
      std::printf("  --verbose N     0 silent, 1 progress bar, 2 one line per epoch (default %d)\n",
                  defaults.verbose);
      std::printf("  --help          show this message\n");
      std::exit(0);
    }
    const bool known = flag == "--epochs" || flag == "--batch-size" || flag == "--seed" || flag == "--threads" ||
                       flag == "--verbose" || (flag == "--data" && a.uses_data) ||
                       (flag == "--winograd" && a.uses_convolutions) || (flag == "--output" && !a.output.empty()) ||
                       (flag == "--precision" && a.uses_precision) ||
                       (flag == "--model" && !a.models.empty());
    if (!known) detail::usage_error(program, "unknown option '" + flag + "'");
    if (!inline_value) {
      if (i + 1 >= argc) detail::usage_error(program, flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "--output") a.output = value;
    else if (flag == "--precision") {
      if (value != "fp32" && value != "bf16" && value != "auto")
        detail::usage_error(program, "--precision expects fp32, bf16 or auto, got '" + value + "'");
      a.precision = value;
    }
    else if (flag == "--model") {
      bool listed = false;
      std::string names;
      for (const auto& m : a.models) listed |= m == value, names += (names.empty() ? "" : ", ") + m;
      if (!listed) detail::usage_error(program, "--model expects one of " + names + ", got '" + value + "'");
      a.model = value;
    }
    else if (flag == "--epochs") a.epochs = int(detail::to_int(program, flag, value, 0, 1000000));
    else if (flag == "--batch-size") a.batch_size = int(detail::to_int(program, flag, value, 1, 1 << 30));
    else if (flag == "--seed") a.seed = uint64_t(detail::to_int(program, flag, value, 0, INT64_MAX));
    else if (flag == "--threads") a.threads = int(detail::to_int(program, flag, value, 0, 4096));
    else if (flag == "--verbose") a.verbose = int(detail::to_int(program, flag, value, 0, 2));
    else if (flag == "--winograd") a.winograd = detail::to_int(program, flag, value, 0, 1) == 1;
    else a.data = value;
  }
  return a;
}

}  // namespace example
