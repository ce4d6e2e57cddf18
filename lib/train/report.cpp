// Metrics lines and the progress bar (see report.h).
#include "train/report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace mds::train {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  if (t < 86400) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  return fmt::format("{}d{:02}h", t / 86400, (t % 86400) / 3600);
}

namespace {
std::string si(double v) {
  if (!std::isfinite(v)) return "?";
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}
}  // namespace

std::string format_progress(const ProgressState& s, int width) {
  const double frac = s.total_steps > 0 ? std::clamp(static_cast<double>(s.step) / s.total_steps, 0.0, 1.0) : 0.0;
  const std::string head = fmt::format("step {}/{} ", s.step, s.total_steps);
  std::string tail = fmt::format(" {:5.1f}%", 100 * frac);
  tail += std::isfinite(s.loss) ? fmt::format(" loss {:.4f}", s.loss) : std::string(" loss -");
  tail += fmt::format(" | {} tok/s | ETA {}", si(s.tokens_per_s), s.eta_s < 0 ? "?" : format_duration(s.eta_s));
  const int room = width - static_cast<int>(head.size() + tail.size()) - 2;
  if (room < 5) return (head + tail).substr(0, std::max(0, width));
  const int bar = std::min(room, 40);
  const int filled = static_cast<int>(frac * bar + 1e-9);
  return head + "[" + std::string(filled, '#') + std::string(bar - filled, '.') + "]" + tail;
}

Reporter::Reporter(std::FILE* metrics, std::FILE* messages, bool progress_bar, int width, std::string metrics_name)
    : metrics_(metrics),
      messages_(messages),
      metrics_name_(std::move(metrics_name)),
      bar_(progress_bar && messages != nullptr),
      width_(width) {}

Reporter::~Reporter() { finish(); }

void Reporter::clear_bar() {
  if (!bar_shown_) return;
  std::fputs("\r\033[K", messages_);  // carriage return + erase line
  bar_shown_ = false;
}

void Reporter::metric(const nlohmann::ordered_json& line) {
  if (!metrics_ || failure_errno_ != 0) return;
  const bool shared = metrics_ == messages_;
  if (shared) clear_bar();
  const std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), metrics_) != text.size() || std::fflush(metrics_) != 0) {
    failure_errno_ = errno != 0 ? errno : EIO;
    failure_ = fmt::format("{}: write failed: {}{}", metrics_name_, std::strerror(failure_errno_),
                           failure_errno_ == EPIPE ? " (the reading end of the pipe was closed)" : "");
    return;
  }
  if (shared && bar_ && !last_bar_.empty()) {
    std::fputs(last_bar_.c_str(), messages_);
    bar_shown_ = true;
    std::fflush(messages_);
  }
}

void Reporter::warning(const std::string& text) {
  if (!messages_) return;
  clear_bar();
  std::fprintf(messages_, "warning: %s\n", text.c_str());
  if (bar_ && !last_bar_.empty()) {
    std::fputs(last_bar_.c_str(), messages_);
    bar_shown_ = true;
  }
  std::fflush(messages_);
}

void Reporter::progress(const ProgressState& s, bool force) {
  if (!bar_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && bar_shown_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  last_bar_ = format_progress(s, width_);
  std::fputs("\r\033[K", messages_);
  std::fputs(last_bar_.c_str(), messages_);
  std::fflush(messages_);
  bar_shown_ = true;
}

void Reporter::finish() {
  if (bar_shown_) {
    std::fputs("\n", messages_);
    std::fflush(messages_);
    bar_shown_ = false;
  }
  last_bar_.clear();
}

}  // namespace mds::train
