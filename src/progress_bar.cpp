#include "progress_bar.hpp"

#include <unistd.h>

#include <cmath>
#include <string>

namespace myelin {

namespace {
std::string format_duration(double seconds) {
  char buf[32];
  if (seconds >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", int(seconds / 3600), int(seconds / 60) % 60, int(seconds) % 60);
  else if (seconds >= 60) std::snprintf(buf, sizeof buf, "%d:%02d", int(seconds / 60), int(seconds) % 60);
  else std::snprintf(buf, sizeof buf, "%ds", int(std::lround(seconds)));
  return buf;
}
std::string format_per_step(double seconds) {
  char buf[32];
  if (seconds >= 1) std::snprintf(buf, sizeof buf, "%.0fs/step", seconds);
  else if (seconds >= 1e-3) std::snprintf(buf, sizeof buf, "%.0fms/step", seconds * 1e3);
  else std::snprintf(buf, sizeof buf, "%.0fus/step", seconds * 1e6);
  return buf;
}
}  // namespace

ProgressBar::ProgressBar(int64_t steps, int verbose, std::FILE* out)
    : steps_(steps), verbose_(verbose), out_(out), tty_(isatty(fileno(out)) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t step, const Logs& logs) {
  // Without a terminal a redrawn bar would fill a log file with lines; Keras prints the last only.
  if (verbose_ != 1 || !tty_) return;
  auto now = std::chrono::steady_clock::now();
  if ((steps_ < 0 || step < steps_) && now - last_draw_ < std::chrono::milliseconds(50)) return;
  last_draw_ = now;
  draw(step, logs, false);
}

void ProgressBar::finish(const Logs& logs, int64_t steps_done) {
  if (verbose_ == 0) return;
  if (steps_ < 0) steps_ = steps_done;
  draw(steps_, logs, true);
}

void ProgressBar::draw(int64_t step, const Logs& logs, bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line;
  char head[64];
  if (steps_ < 0) {
    std::snprintf(head, sizeof head, "%lld/Unknown", (long long)step);
  } else {
    const int digits = int(std::to_string(steps_).size());
    std::snprintf(head, sizeof head, "%*lld/%lld", digits, (long long)step, (long long)steps_);
  }
  line += head;
  if (verbose_ == 1 && steps_ >= 0) {
    constexpr int kWidth = 30;
    const int filled = steps_ ? int(kWidth * step / steps_) : kWidth;
    line += " [";
    for (int i = 0; i < kWidth; ++i) line += i < filled ? (i == filled - 1 && step < steps_ ? '>' : '=') : '.';
    line += "]";
  }
  if (final) {
    line += " - " + format_duration(elapsed) + " " + format_per_step(step ? elapsed / double(step) : 0.0);
  } else if (steps_ >= 0) {
    const double eta = step ? elapsed / double(step) * double(steps_ - step) : 0.0;
    line += " - ETA: " + format_duration(eta);
  }
  for (const auto& [k, v] : logs) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " - %s: %.4f", k.c_str(), v);
    line += buf;
  }
  if (verbose_ == 1 && tty_) std::fprintf(out_, "\r%s\033[K", line.c_str());
  else std::fprintf(out_, "%s", line.c_str());
  if (final) std::fprintf(out_, "\n");
  std::fflush(out_);
}

}  // namespace myelin
